"""prepare: chronological splits, the scaler fitted on training rows, typed prepared data."""
import numpy as np
import pytest

from common import lifecycle
from common.errors import DataError
from tasks.forecasting import TASK
from tasks.forecasting.data import ForecastingPrepared
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv


def test_scaler_is_fitted_on_training_rows_only(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(100))
    prepared = TASK.prepare(config_for(path))
    train_rows = 60
    assert prepared.state["mean"][0] == pytest.approx(np.arange(train_rows).mean())
    assert prepared.state["scale"][0] == pytest.approx(np.arange(train_rows).std())


def test_prepared_holds_each_splits_scaled_rows_targets_first(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(100), header="date,b,a")
    prepared = TASK.prepare(config_for(path))
    assert isinstance(prepared, ForecastingPrepared) and prepared.state["features"] == ["a", "b"]
    assert {name: len(rows) for name, rows in prepared.scaled.items()} == {"train": 60, "val": 28, "test": 28}
    mean, scale = np.array(prepared.state["mean"]), np.array(prepared.state["scale"])
    np.testing.assert_allclose(prepared.scaled["test"][-1] * scale + mean, [99 * 2, 99], rtol=1e-5)


def test_a_given_state_is_reused_not_refitted(tmp_path):
    first = TASK.prepare(config_for(write_csv(tmp_path / "s.csv", hourly(100))))
    other = write_csv(tmp_path / "t.csv", hourly(100, start="2025-01-01"), header="date,b,a")
    again = TASK.prepare(config_for(other), first.state)
    assert again.state == first.state


def test_targets_default_to_every_column_but_time_and_covariates(tmp_path):
    path = write_csv(tmp_path / "s.csv", [r + ",1" for r in hourly(100)], header="date,a,b,c")
    prepared = TASK.prepare(config_for(path, **{"data.target_columns": []}))
    assert prepared.state["targets"] == ["a", "c"] and prepared.state["features"] == ["a", "c", "b"]


def test_three_files_give_the_three_splits(tmp_path):
    files = {name: str(write_csv(tmp_path / f"{name}.csv", hourly(n))) for name, n in
             [("train", 40), ("val", 20), ("test", 12)]}
    prepared = TASK.prepare(config_for(None, **{f"data.{k}": v for k, v in files.items()}))
    assert prepared.info["rows (train/val/test)"] == "40 / 20 / 12"


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="data file not found: nowhere.csv"):
        TASK.prepare(config_for("nowhere.csv"))


def test_a_series_too_short_for_the_windows_says_so(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(12))
    with pytest.raises(DataError, match=r"fewer than lookback \+ horizon = 10"):
        TASK.prepare(config_for(path))


def test_a_horizon_longer_than_a_split_allows_names_that_split_and_the_fix_in_one_line(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(100))  # val: 20 rows + the 8-row lookback before them
    with pytest.raises(DataError) as error:
        TASK.prepare(config_for(path, **{"data.horizon": 30}))
    assert str(error.value) == (f"{path}: the val split has 28 rows, fewer than lookback + horizon = 38; use "
                                "more data, a smaller data.lookback/data.horizon or other split sizes")


def test_bom_crlf_and_blank_lines_are_accepted(tmp_path):
    path = tmp_path / "s.csv"
    body = "\r\n".join(["date,a,b"] + hourly(50)[:25] + [""] + hourly(50)[25:]) + "\r\n\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    prepared = TASK.prepare(config_for(path))
    assert prepared.info["rows (train/val/test)"] == "30 / 18 / 18"


def test_fill_policy_repairs_gaps_and_nan(tmp_path):
    rows = hourly(60)
    rows = rows[:10] + rows[11:]
    rows[20] = rows[20].split(",")[0] + ",,0"
    path = write_csv(tmp_path / "s.csv", rows)
    prepared = TASK.prepare(config_for(path, **{"data.fill": "interpolate"}))
    assert prepared.info["rows (train/val/test)"] == "36 / 20 / 20"


@pytest.mark.parametrize("name, rows", [("ettm1", (34560, 11520, 11520)), ("ettm2", (34560, 11520, 11520)),
                                        ("etth2", (8640, 2880, 2880))])
def test_ett_configs_cut_the_12_4_4_month_protocol(shared_data, monkeypatch, name, rows):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / f"forecasting_{name}.yaml")
    prepared = TASK.prepare(config)
    lookback = config.data.lookback
    assert {s: len(v) for s, v in prepared.scaled.items()} == {
        "train": rows[0], "val": rows[1] + lookback, "test": rows[2] + lookback}


def test_known_future_inputs_are_the_scaled_columns_then_the_calendar(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(100))
    prepared = TASK.prepare(config_for(path, **{"data.covariate_columns": [], "data.future_covariate_columns": ["b"],
                                                "data.calendar_features": ["hour_of_day"]}))
    assert prepared.state["future_covariates"] == ["b"] and prepared.info["known-future inputs"] == "b, hour_of_day"
    np.testing.assert_allclose(prepared.known["train"][:, 0], prepared.scaled["train"][:, 1])
    np.testing.assert_allclose(prepared.known["train"][:3, 1], np.array([0, 1, 2]) / 23 - 0.5, atol=1e-6)


def test_without_known_future_inputs_the_state_is_as_before(tmp_path):
    prepared = TASK.prepare(config_for(write_csv(tmp_path / "s.csv", hourly(100))))
    assert "future_covariates" not in prepared.state and prepared.known["train"].shape == (60, 0)


def test_fit_state_keeps_real_scales_gives_flat_columns_scale_one_and_records_freq_and_mase_scale():
    import pandas as pd

    from tasks.forecasting.data import fit_state

    train = pd.DataFrame({"a": [1.0, 5.0, 2.0, 7.0, 4.0, 6.0], "c": [0.0, 1.0] * 3, "b": [3.0] * 6},
                         index=pd.date_range("2024-01-01", periods=6, freq="h"))
    train.attrs["freq"] = "h"
    state = fit_state(config_for("unused.csv"), train, ["a", "c", "b"], ["a"])
    assert state["scale"][1:] == pytest.approx([0.5, 1.0])  # c: std 0.5 kept; b: flat -> 1
    assert state["mean"] == pytest.approx([25 / 6, 0.5, 3.0])
    assert state["freq"] == "h"
    assert state["mase_scale"] == pytest.approx([(3 + 1) / 2])  # seasonal_period 4: |4-1|, |6-5|
    assert "future_covariates" not in state


def test_fit_state_records_future_covariates_without_calendar_features():
    import pandas as pd

    from tasks.forecasting.data import fit_state

    train = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0) * 2})
    config = config_for("unused.csv", **{"data.covariate_columns": [], "data.future_covariate_columns": ["b"]})
    state = fit_state(config, train, ["a", "b"], ["a"])
    assert state["future_covariates"] == ["b"] and state["calendar"] == []


def test_a_file_whose_every_column_is_a_covariate_has_nothing_to_forecast(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(60))
    config = config_for(path, **{"data.target_columns": [], "data.covariate_columns": ["a", "b"]})
    with pytest.raises(DataError, match=r"s.csv:1: every column is the time column or a covariate, so "
                                        r"there is nothing to forecast; set data.target_columns"):
        TASK.prepare(config)


def test_a_batch_larger_than_the_training_windows_is_warned_about(tmp_path, capsys):
    path = write_csv(tmp_path / "s.csv", hourly(60))
    TASK.prepare(config_for(path, **{"train.batch_size": 100}))
    assert "train.batch_size 100 is larger than the 27 training windows" in capsys.readouterr().err
