"""Forecasting: windows, splits, scaling, metrics, bad input, resume, determinism, ETTh1."""
import numpy as np
import pandas as pd
import pytest

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError, DataError
from common.io import read_json
from common.metrics import forecasting as fm
from tasks.forecasting import TASK
from tasks.forecasting.data import count_windows, split_bounds, window_arrays, window_dataset

TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none"}


def write_csv(path, rows, header="date,a,b"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def hourly(n, start="2024-01-01"):
    times = pd.date_range(start, periods=n, freq="h")
    return [f"{t:%Y-%m-%d %H:%M:%S},{i},{2 * i}" for i, t in enumerate(times)]


def config_for(path, **values):
    base = {"data.path": str(path), "data.time_column": "date", "data.target_columns": ["a"],
            "data.covariate_columns": ["b"], "data.lookback": 8, "data.horizon": 2,
            "data.split_ratios": [0.6, 0.2, 0.2], "model.patch_len": 4, "data.seasonal_period": 4, **TINY}
    return cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {**base, **values})


# ---- windows and splits -------------------------------------------------------------------
def test_window_count_covers_every_window():
    assert count_windows(10, lookback=4, horizon=2) == 5
    assert count_windows(5, lookback=4, horizon=2) == 0


def test_windows_pair_history_with_the_following_targets():
    series = np.arange(20, dtype=np.float32).reshape(10, 2)
    x, y = window_arrays(series, lookback=3, horizon=2, target_idx=[1])
    assert x.shape == (6, 3, 2) and y.shape == (6, 2, 1)
    np.testing.assert_array_equal(x[0, :, 0], [0, 2, 4])
    np.testing.assert_array_equal(y[0, :, 0], [7, 9])


def test_tf_data_windows_match_numpy_windows_and_keep_the_last_batch():
    series = np.random.default_rng(0).normal(size=(23, 2)).astype(np.float32)
    batches = list(window_dataset(series, 5, 3, [0], batch_size=4).as_numpy_iterator())
    xs = np.concatenate([b[0]["history"] for b in batches])
    ys = np.concatenate([b[1] for b in batches])
    x, y = window_arrays(series, 5, 3, [0])
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
    assert len(xs) == count_windows(23, 5, 3) == 16


def test_val_and_test_start_one_lookback_early():
    bounds = split_bounds(100, "rows", None, [60, 20, 20], None, None, lookback=10, path="x")
    assert bounds == {"train": (0, 60), "val": (50, 80), "test": (70, 100)}


def test_scaler_is_fitted_on_training_rows_only(tmp_path):
    rows = hourly(100)
    path = write_csv(tmp_path / "s.csv", rows)
    prepared = TASK.prepare(config_for(path))
    train_rows = 60
    assert prepared.state["mean"][0] == pytest.approx(np.arange(train_rows).mean())
    assert prepared.state["scale"][0] == pytest.approx(np.arange(train_rows).std())


# ---- metrics against hand-computed values -------------------------------------------------
Y = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
P = np.array([[[2.0], [2.0]], [[1.0], [4.0]]])


def test_mse_mae_rmse():
    assert fm.mse(Y, P) == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert fm.mae(Y, P) == pytest.approx((1 + 0 + 2 + 0) / 4)
    assert fm.rmse(Y, P) == pytest.approx(np.sqrt(1.25))


def test_mape_and_smape():
    assert fm.mape(Y, P) == pytest.approx(100 * (1 / 1 + 0 + 2 / 3 + 0) / 4)
    assert fm.smape(Y, P) == pytest.approx(100 * (2 * 1 / 3 + 0 + 2 * 2 / 4 + 0) / 4)


def test_mase_scales_by_in_sample_naive_error():
    scale = fm.mase_scale(np.array([[1.0], [3.0], [6.0]]), period=1)  # |3-1|, |6-3| -> 2.5
    assert scale.tolist() == [2.5]
    assert fm.mase(Y, P, scale) == pytest.approx(0.75 / 2.5)


# ---- bad input: one clear message -----------------------------------------------------------
@pytest.mark.parametrize("rows, message", [
    (hourly(6)[:2] + hourly(6)[3:], r"gap in the series after 2024-01-01 01:00:00.*data.fill"),
    ([hourly(3)[1], hourly(3)[0], hourly(3)[2]], r"s.csv:3: timestamp .* before .*data.sort: true"),
    ([hourly(3)[0], hourly(3)[0], hourly(3)[1]], r"s.csv:3: duplicate timestamp"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,,2", "2024-01-01 02:00:00,1,2"],
     r"s.csv:3: missing value \(NaN\) in column 'a'"),
    (["2024-01-01 00:00:00,1,2", "2024-01-01 01:00:00,abc,2"], r"s.csv:3: column 'a' holds 'abc', not a number"),
    (["yesterday,1,2"], r"s.csv:2: cannot read 'yesterday' in column 'date'"),
])
def test_bad_rows_are_named_with_file_and_line(tmp_path, rows, message):
    path = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(DataError, match=message):
        TASK.prepare(config_for(path))


def test_missing_column_lists_the_columns_there_are(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(50))
    with pytest.raises(DataError, match=r"column\(s\) 'c' not found; the file has 'date', 'a', 'b'"):
        TASK.prepare(config_for(path, **{"data.target_columns": ["c"]}))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="data file not found: nowhere.csv"):
        TASK.prepare(config_for("nowhere.csv"))


def test_a_series_too_short_for_the_windows_says_so(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(12))
    with pytest.raises(DataError, match=r"fewer than lookback \+ horizon = 10"):
        TASK.prepare(config_for(path))


def test_non_utf8_file_names_the_encoding_setting(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("date,a,b\n2024-01-01 00:00:00,1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"s.csv:2: not valid utf-8 text .*data.encoding"):
        TASK.prepare(config_for(path))


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


@pytest.mark.parametrize("key, value, message", [
    ("data.split_ratios", [0.8, 0.3, 0.1], "give three fractions"),
    ("model.kind", "transformer", "'transformer' is not allowed; choose one of direct, seq2seq"),
    ("data.lookback", 0, "must be >= 1"),
    ("model.rnn.cell", "rnn", "choose one of simple_rnn, lstm, gru"),
])
def test_config_errors_name_the_key(key, value, message):
    with pytest.raises(ConfigError, match=message):
        cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {key: value})


def test_patch_len_must_divide_lookback(tmp_path):
    path = write_csv(tmp_path / "s.csv", hourly(100))
    with pytest.raises(ConfigError, match="must divide data.lookback"):
        TASK.prepare(config_for(path, **{"model.patch_len": 3}))


# ---- training behaviour -------------------------------------------------------------------
@pytest.fixture
def demo_path(tmp_path):
    return TASK.demo.make_data(tmp_path / "data")["data.path"]


def demo_config(path, **values):
    base = cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {"data.path": path, **TINY})
    return cfg.with_values(base, values)


def test_same_seed_same_metrics(tmp_path, demo_path):
    config = demo_config(demo_path)
    _, first = lifecycle.train(TASK, config, tmp_path / "one")
    _, second = lifecycle.train(TASK, config, tmp_path / "two")
    assert first["test"] == second["test"]


def test_seq2seq_model_trains_and_exports(tmp_path, demo_path):
    run, doc = lifecycle.train(TASK, demo_config(demo_path, **{"model.kind": "seq2seq"}), tmp_path / "s2s")
    assert doc["test"]["mse"] > 0 and (run.export_dir / "saved_model.pb").exists()


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, demo_path, monkeypatch):
    config = demo_config(demo_path, **{"train.epochs": 3, "train.early_stopping_patience": 0})
    from common import training

    class Crash(Exception):
        pass

    class CrashAfterSecondEpoch(training.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Crash()

    original_fit = training.fit
    monkeypatch.setattr(lifecycle, "fit", lambda *a, **k: original_fit(*a, extra_callbacks=[CrashAfterSecondEpoch()]))
    with pytest.raises(Crash):
        lifecycle.train(TASK, config, tmp_path / "run")
    run = lifecycle.RunFolder(tmp_path / "run")
    assert run.is_interrupted() and not run.model_path.exists()
    monkeypatch.setattr(lifecycle, "fit", original_fit)
    lifecycle.train(TASK, config, tmp_path / "run")
    epochs = pd.read_csv(run.history_path)["epoch"].tolist()
    assert epochs == [0, 1, 2] and run.is_finished() and not run.is_interrupted()


def test_a_finished_run_is_not_overwritten_by_accident(tmp_path, demo_path):
    config = demo_config(demo_path)
    lifecycle.train(TASK, config, tmp_path / "run")
    with pytest.raises(Exception, match="already holds a finished run; pass --overwrite"):
        lifecycle.train(TASK, config, tmp_path / "run")


def test_predict_writes_timestamped_forecasts(tmp_path, demo_path):
    config = demo_config(demo_path)
    run, _ = lifecycle.train(TASK, config, tmp_path / "run")
    source = TASK.demo.predict_input(config, tmp_path)
    lifecycle.predict(TASK, run.path, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    history = pd.read_csv(source)
    assert list(out.columns) == ["timestamp", "load", "solar"] and len(out) == config.data.horizon
    assert pd.Timestamp(out["timestamp"][0]) == pd.Timestamp(history["timestamp"].iloc[-1]) + pd.Timedelta("1h")


def test_tune_writes_a_best_config_that_train_accepts(tmp_path, demo_path):
    from common.tuning import tune

    config = demo_config(demo_path, **{"tuner.max_trials": 2, "tuner.epochs": 1})
    run, best = tune(TASK, config, tmp_path / "tune")
    for name in ("best.yaml", "trials.csv", "trials.md", "plots/tuning.png"):
        assert (run.path / name).exists(), name
    best_config = lifecycle.load_config(TASK, run.path / "best.yaml")
    assert best_config.model.rnn.cell == best["model.rnn.cell"]
    assert len(pd.read_csv(run.path / "trials.csv")) == 2


# ---- real data --------------------------------------------------------------------------------
def test_etth1_standard_split_and_one_short_epoch(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path.parent / "forecasting_etth1.yaml"),
                             {**TINY, "data.stride": 24, "model.rnn.units": 32, "model.d_model": 32})
    run, doc = lifecycle.train(TASK, config, tmp_path / "etth1")
    assert doc["test"]["windows"] == 2880 - 96 + 1  # every test window of the standard protocol
    assert read_json(run.state_path)["features"] == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert doc["test"]["mse"] < doc["baselines"]["naive"]["mse"]
