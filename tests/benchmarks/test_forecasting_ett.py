"""The ETT benchmark script's report: pairs parsed, one row per pair, published figures beside ours."""
import pytest

from benchmarks.forecasting_ett import parse_runs, table


def test_all_means_every_dataset_and_horizon_of_the_protocol():
    runs = parse_runs(["all"])
    assert len(runs) == 16 and ("ettm2", 720) in runs


def test_a_bad_pair_stops_with_the_expected_form():
    with pytest.raises(SystemExit, match="DATASET:HORIZON"):
        parse_runs(["etth3:96"])


def test_the_table_has_our_figures_training_time_baselines_and_published_figures():
    doc = {"test": {"mse": 0.3781, "mae": 0.3862, "windows": 2785},
           "baselines": {"linear": {"mse": 0.381, "mae": 0.393}}, "training": {"train_seconds": 300}}
    report = table({("etth1", 96): doc}, {})
    row = next(line for line in report.splitlines() if line.startswith("| ETTh1"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["ETTh1", "96", "0.378 / 0.386", "5.0 min", ""]  # naive not run: blank
    assert "0.381 / 0.393" in cells and "0.368 / 0.395" in cells  # our linear baseline, SegRNN
    assert "not comparable" not in report


def test_overridden_settings_are_flagged_as_not_comparable():
    doc = {"test": {"mse": 1.0, "mae": 1.0, "windows": 10}, "baselines": {}}
    assert "not comparable" in table({("etth1", 24): doc}, {"train.epochs": 1})
