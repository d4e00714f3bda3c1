"""Standing in for a terminal, so a test sees the progress bars `common.progress` draws only there."""
import io

from common import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def on_a_terminal(monkeypatch, at_once: bool = True) -> Terminal:
    """stdout becomes a terminal whose text the test reads; ``at_once``: bars show from the first update
    (no delay, every redraw), as a long step's would."""
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    if at_once:
        monkeypatch.setattr(progress, "DELAY_SECONDS", 0)
        monkeypatch.setattr(progress, "REFRESH_SECONDS", 0)
    return terminal
