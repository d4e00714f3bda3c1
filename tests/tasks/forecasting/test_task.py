"""The forecasting task end to end: seq2seq, no accidental overwrite, predict, known-future inputs and quantiles
through the export, ETTh1. (Determinism and tuning are conformance checks, run for every task; resume is
tests/common/test_lifecycle.py's, on this task.)"""
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd
import pytest

from common import config as cfg
from common import lifecycle
from common.errors import DataError
from common.io import read_json
from tasks.forecasting import TASK
from tests.harness import serve_in_fresh_process
from tests.tasks.forecasting.helpers import TINY, config_for


# ---- training behaviour -------------------------------------------------------------------
@pytest.fixture
def demo_path(tmp_path):
    return TASK.demo.make_data(tmp_path / "data")["data.path"]


def demo_config(path, **values):
    base = cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {"data.path": path, **TINY})
    return cfg.with_values(base, values)


def test_seq2seq_model_trains_and_exports(tmp_path, demo_path):
    run, doc = lifecycle.train(TASK, demo_config(demo_path, **{"model.kind": "seq2seq"}), tmp_path / "s2s")
    assert doc["test"]["mse"] > 0 and (run.export_dir / "saved_model.pb").exists()


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


# ---- real data --------------------------------------------------------------------------------
def test_etth1_standard_split_and_one_short_epoch(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path.parent / "forecasting_etth1.yaml"),
                             {**TINY, "data.stride": 24, "model.rnn.units": 32, "model.d_model": 32})
    run, doc = lifecycle.train(TASK, config, tmp_path / "etth1")
    assert doc["test"]["windows"] == 2880 - 96 + 1  # every test window of the standard protocol
    assert read_json(run.state_path)["features"] == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert doc["test"]["mse"] < doc["baselines"]["naive"]["mse"]


# ---- quantiles and known-future inputs ---------------------------------------------------------
def noise_series(tmp_path, n=240):
    """Target ``a`` equals the known-future column ``c``, white noise: only the horizon's ``c`` predicts it."""
    c = np.random.default_rng(0).normal(size=n).round(4)
    times = pd.date_range("2024-01-01", periods=n, freq="h")
    pd.DataFrame({"date": times, "a": c, "c": c}).to_csv(tmp_path / "noise.csv", index=False)
    return tmp_path / "noise.csv"


def known_config(path, **values):
    return config_for(path, **{"data.covariate_columns": [], "data.future_covariate_columns": ["c"], **values})


def test_a_target_equal_to_a_known_future_column_is_learned_almost_exactly(tmp_path):
    config = known_config(noise_series(tmp_path), **{"train.batch_size": 16})
    prepared = TASK.prepare(config)
    keras.utils.set_random_seed(0)
    model = TASK.build_model(config, prepared)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(prepared.train, epochs=25, verbose=0, shuffle=False)  # the dataset shuffles itself
    scores = TASK.evaluate(model, config, prepared, "test", SimpleNamespace(plots_dir=tmp_path))
    assert scores["mse"] < 0.02 < 1 < TASK.baselines(config, prepared, "test")["naive"]["mse"]


def test_export_takes_raw_known_future_inputs_and_returns_quantiles_in_a_fresh_process(tmp_path):
    config = known_config(noise_series(tmp_path), **{"model.quantiles": [0.1, 0.5, 0.9],
                                                     "data.calendar_features": ["hour_of_day", "day_of_week"]})
    run, doc = lifecycle.train(TASK, config, tmp_path / "run")
    assert {"pinball_q0.1", "mean_wql", "coverage", "interval_width"} <= set(doc["test"])
    assert {"mean_wql", "coverage"} <= set(doc["baselines"]["naive"])
    example = TASK.serving_example(config, TASK.prepare(config, read_json(run.state_path)))
    assert example["future_covariates"].shape == (4, 2, 1) and example["future_time"].dtype == np.int64
    out = serve_in_fresh_process(run.export_dir, example, tmp_path)
    assert out["forecast"].shape == (4, 2, 1, 3) and (np.diff(out["forecast"], axis=-1) >= 0).all()

    frame = pd.read_csv(tmp_path / "noise.csv").astype(str)
    future = frame.tail(2).assign(a="")
    pd.concat([frame.iloc[:-2].tail(10), future]).to_csv(tmp_path / "in.csv", index=False)
    lifecycle.predict(TASK, run.path, tmp_path / "in.csv", tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["date", "a", "a_q0.1", "a_q0.5", "a_q0.9"]
    assert out["date"].tolist() == future["date"].tolist() and (out["a"] == out["a_q0.5"]).all()

    frame.iloc[:-2].tail(10).to_csv(tmp_path / "no_future.csv", index=False)
    with pytest.raises(DataError, match=r"takes known-future covariates \(c\): end the file with data.horizon = 2 "
                                        r"rows .* \(found 0 such rows\)"):
        lifecycle.predict(TASK, run.path, tmp_path / "no_future.csv", tmp_path / "out.csv")
    pd.concat([frame.iloc[:-2].tail(10), future.assign(c="")]).to_csv(tmp_path / "blank.csv", index=False)
    with pytest.raises(DataError, match="known-future column 'c' is empty or not a number in the horizon row"):
        lifecycle.predict(TASK, run.path, tmp_path / "blank.csv", tmp_path / "out.csv")
