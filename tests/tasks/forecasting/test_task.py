"""The forecasting task end to end: determinism, seq2seq, resume, predict, tune, ETTh1."""
import pandas as pd
import pytest

from common import config as cfg
from common import lifecycle
from common.io import read_json
from tasks.forecasting import TASK
from tests.tasks.forecasting.helpers import TINY


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
