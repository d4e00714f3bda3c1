"""The ETT benchmark script's report: pairs parsed, one row per pair, published figures beside ours."""
import pytest

from benchmarks import forecasting_ett
from benchmarks.forecasting_ett import HORIZONS, parse_runs, table


def test_all_means_every_dataset_and_horizon_of_the_protocol():
    runs = parse_runs(["all"])
    assert len(runs) == 16 and ("ettm2", 720) in runs


def test_a_bad_pair_stops_with_the_expected_form():
    with pytest.raises(SystemExit, match="DATASET:HORIZON"):
        parse_runs(["etth3:96"])


def test_the_table_has_our_figures_training_time_baselines_and_published_figures():
    doc = {"test": {"mse": 0.3781, "mae": 0.3862, "windows": 2785},
           "baselines": {"linear": {"mse": 0.381, "mae": 0.393}}, "training": {"train_seconds": 300},
           "peak_rss_mib": 812}
    report = table({("etth1", 96): doc}, {})
    row = next(line for line in report.splitlines() if line.startswith("| ETTh1"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:6] == ["ETTh1", "96", "0.378 / 0.386", "5.0 min", "812 MiB", ""]  # naive not run: blank
    assert "0.381 / 0.393" in cells and "0.368 / 0.395" in cells  # our linear baseline, SegRNN
    assert "not comparable" not in report


def test_overridden_settings_are_flagged_as_not_comparable():
    doc = {"test": {"mse": 1.0, "mae": 1.0, "windows": 10}, "baselines": {}}
    assert "not comparable" in table({("etth1", 24): doc}, {"train.epochs": 1})


def test_quantile_runs_get_coverage_width_and_wql_before_and_after_calibration_beside_the_best_baseline():
    doc = {"test": {"mse": 0.4, "mae": 0.4, "windows": 2785, "coverage": 0.6512, "coverage_nominal": 0.8,
                    "coverage_calibrated": 0.7934, "interval_width": 3.211, "interval_width_calibrated": 4.5,
                    "mean_wql": 0.0831, "mean_wql_calibrated": 0.0799},
           "baselines": {"naive": {"mse": 1.0, "mae": 1.0, "coverage": 0.81, "interval_width": 9.0,
                                   "mean_wql": 0.2},
                         "seasonal_naive": {"mse": 0.9, "mae": 0.9, "coverage": 0.79, "interval_width": 7.5,
                                            "mean_wql": 0.15},
                         "linear": {"mse": 0.5, "mae": 0.5}}}
    report = table({("etth1", 96): doc, ("ettm2", 96): {"test": {"mse": 0.2, "mae": 0.3, "windows": 9}}}, {})
    section = report.split("## Quantile forecasts")[1]
    rows = [line for line in section.splitlines() if line.startswith("| ETT")]
    assert rows == ["| ETTh1 | 96 | 0.80 | 0.651 → 0.793 | 3.21 → 4.50 | 0.0831 → 0.0799 | "
                    "seasonal_naive: 0.790 / 7.50 / 0.1500 |"]  # ETTm2 had no quantiles: no row


def test_a_run_that_a_baseline_beats_is_listed_with_its_sentence():
    warning = "the naive baseline (the last value repeated) beats the model on the validation split: MSE ..."
    doc = {"test": {"mse": 1.0, "mae": 1.0, "windows": 10, "baseline_warning": warning}, "baselines": {}}
    assert f"- ETTh1 96: {warning}" in table({("etth1", 96): doc}, {})
    assert "a baseline beats" not in table({("etth1", 96): {**doc, "test": {"mse": 1.0, "mae": 1.0,
                                                                            "windows": 10}}}, {})


def _doc(mse, minutes, linear=None):
    return {"test": {"mse": mse, "mae": mse / 2, "windows": 10}, "training": {"train_seconds": minutes * 60},
            "baselines": {"linear": {"mse": linear, "mae": linear}} if linear else {}}


def test_a_dataset_with_all_four_horizons_gets_an_average_row_of_ours_baselines_and_published_figures():
    results = {("etth1", h): _doc(0.4 + i / 10, 1, linear=1.0 + i) for i, h in enumerate(HORIZONS)}
    report = table(results, {})
    row = next(line for line in report.splitlines() if line.startswith("| **ETTh1**"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["**ETTh1**", "**avg**", "**0.550 / 0.275**", "4.0 min (total)", ""]
    assert cells[5:7] == ["", ""] and cells[7] == "2.500 / 2.500"  # naive, seasonal blank; linear averaged
    assert "0.416 / 0.428" in cells  # SegRNN's ETTh1 average over 96..720
    del results[("etth1", 720)]
    assert "**avg**" not in table(results, {})


def test_stored_pairs_are_reused_and_the_table_holds_every_stored_pair(tmp_path, monkeypatch):
    forecasting_ett.store({**_doc(0.3, 2), "history": [1, 2]}, tmp_path / "ettm2_192.json")
    monkeypatch.setattr(forecasting_ett.subprocess, "run", lambda *a, **k: pytest.fail("retrained a stored pair"))
    out = tmp_path / "table.md"
    forecasting_ett.main(["--runs", "ettm2:192", "--results-dir", str(tmp_path), "--out", str(out)])
    assert "| ETTm2 | 192 | 0.300 / 0.150 | 2.0 min |" in out.read_text()
    assert "history" not in (tmp_path / "ettm2_192.json").read_text()
    forecasting_ett.main(["--results-dir", str(tmp_path), "--out", str(out)])  # no --runs: stored table
    assert "| ETTm2 | 192 |" in out.read_text()
