"""The main job (`python -m tasks.demo`): its summary table puts each task's baselines beside the model."""
from __future__ import annotations

import json

from common.report import fmt
from tasks import demo


def test_the_summary_table_shows_the_baselines_beside_the_headline_metric(tmp_path, capsys):
    demo.main(["--only", "sentiment", "--epochs", "1", "--out", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("task "))
    assert "baselines" in lines[header]
    row = next(line for line in lines[header + 2:] if line.startswith("sentiment "))
    doc = json.loads((tmp_path / "runs" / "sentiment" / "demo" / "metrics.json").read_text())
    assert fmt(doc["test"]["accuracy"]) in row
    expected = ", ".join(f"{name} {fmt(scores['accuracy'])}" for name, scores in doc["baselines"].items())
    assert set(doc["baselines"]) >= {"majority", "tfidf_logreg"} and expected in row
    assert fmt(doc["baselines"]["majority"]["accuracy"]) == "0.5000"  # the demo data is balanced


def test_a_baseline_cell_lists_each_baseline_that_has_the_metric():
    baselines = {"naive": {"mse": 1.8}, "linear": {"mse": 0.254, "mae": 0.3}, "other": {"mae": 1.0}}
    assert demo.baseline_cell(baselines, "mse") == "naive 1.8000, linear 0.2540"
    assert demo.baseline_cell({}, "mse") == "-"
