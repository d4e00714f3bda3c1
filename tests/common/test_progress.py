"""Progress lines: rate and ETA on a terminal for long steps; nothing in logs or for short steps."""
import io

from common import progress
from tests.common.terminal import on_a_terminal


def test_a_long_step_on_a_terminal_shows_rows_per_second_and_time_left(tmp_path, monkeypatch):
    terminal = on_a_terminal(monkeypatch)
    path = tmp_path / "input.txt"
    path.write_bytes(b"x\n" * 500)
    with progress.FileProgress("predict", path, unit="lines") as bar:
        bar.update(500, 250)
    shown = terminal.getvalue()
    assert "predict: 250 lines, " in shown and " lines/s  50%|" in shown and "<00:00]" in shown


def test_a_short_step_on_a_terminal_prints_nothing(tmp_path, monkeypatch):
    terminal = on_a_terminal(monkeypatch, at_once=False)
    path = tmp_path / "input.txt"
    path.write_bytes(b"x\n" * 500)
    with progress.FileProgress("predict", path) as bar:
        bar.update(1000, 500)
    with progress.progress("vocabulary", total=10) as bar:
        bar.update(10)
    assert terminal.getvalue() == ""


def test_off_a_terminal_even_a_long_step_prints_nothing(tmp_path, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stdout", log)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0)
    with progress.progress("vocabulary", total=10) as bar:
        bar.update(10)
    assert log.getvalue() == ""


def test_a_step_inside_one_with_its_own_bar_prints_nothing_even_on_a_terminal(monkeypatch):
    terminal = on_a_terminal(monkeypatch)
    with progress.progress(None, total=10) as bar:
        bar.update(10)
    with progress.progress("vocabulary", total=10) as bar:
        bar.update(10)
    assert terminal.getvalue().count("100%|") == 1 and "vocabulary: 100%" in terminal.getvalue()
