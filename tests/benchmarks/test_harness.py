"""Benchmark plumbing shared by the scripts: the recorded command and the Markdown table."""
import json

from benchmarks import _harness


def test_the_recorded_command_drops_this_checkout_path():
    root = str(_harness.Path(_harness.__file__).resolve().parents[1])
    line = _harness.command("benchmarks.decoding", ["--run-dir", f"{root}/runs/x", "--batch", "32"])
    assert line == "python -m benchmarks.decoding --run-dir runs/x --batch 32"


def test_the_recorded_command_quotes_words_with_spaces():
    assert _harness.command("m", ["--name", "a b"]) == "python -m m --name 'a b'"


def test_table_rounds_large_floats_to_integers_and_small_ones_to_three_digits():
    table = _harness.markdown_table([{"x": 1234.56, "y": 0.123456, "z": "text"}], ["x", "y", "z"])
    assert table.splitlines()[2] == "| 1235 | 0.123 | text |"


def test_json_keeps_the_machine_description_its_report_quoted(tmp_path):
    path = tmp_path / "r.json"
    _harness.write_json(str(path), {"machine": {"load_average": [9.0]}, "rows": []})
    assert json.loads(path.read_text())["machine"] == {"load_average": [9.0]}
