"""The shared lifecycle: nothing half-written, resume where a run stopped, one-line failures."""
import pytest

from common import config as cfg
from common import lifecycle
from common.errors import UserError
from common.io import read_json
from tasks.forecasting import TASK

QUICK = {"train.epochs": 2, "train.tensorboard": False, "train.verbose": "none"}


@pytest.fixture
def config(tmp_path):
    overrides = TASK.demo.make_data(tmp_path / "data", seed=0)
    return cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {**overrides, **QUICK})


def test_bad_data_leaves_no_run_folder(config, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    bad = cfg.with_values(config, {"data.path": str(tmp_path / "empty.csv")})
    with pytest.raises(UserError):
        lifecycle.train(TASK, bad, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_run_dir_that_is_a_file_is_one_clear_error(config, tmp_path):
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(UserError, match="is a file; give a folder"):
        lifecycle.train(TASK, config, tmp_path / "run")


def test_a_diverging_run_stops_with_the_fix_and_says_it_failed(config, tmp_path):
    diverging = cfg.with_values(config, {"train.learning_rate": 1e30, "train.clipnorm": None,
                                         "train.optimizer": "sgd"})
    with pytest.raises(UserError, match="training diverged.*lower train.learning_rate"):
        lifecycle.train(TASK, diverging, tmp_path / "run")
    assert "diverged" in (tmp_path / "run" / "FAILED").read_text()
    assert not (tmp_path / "run" / "model.keras").exists()


def test_a_run_killed_after_training_evaluates_and_exports_without_refitting(config, tmp_path):
    run, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    history = run.history_path.read_text()
    run.metrics_path.unlink()  # as if killed during evaluation
    __import__("shutil").rmtree(run.export_dir)
    messages = []
    _, again = lifecycle.train(TASK, config, run.path, log=messages.append)
    assert run.history_path.read_text() == history  # no epoch was trained again
    assert again["test"] == doc["test"] and again["training"] == doc["training"]
    assert (run.export_dir / "saved_model.pb").exists() and "had finished" in messages[0]


def test_predict_without_an_export_says_how_to_make_one(config, tmp_path):
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    __import__("shutil").rmtree(run.export_dir)
    with pytest.raises(UserError, match="export it first: python -m tasks.forecasting export"):
        lifecycle.predict(TASK, run.path, tmp_path / "in.csv", tmp_path / "out.csv")


def test_predict_output_pointing_at_a_folder_is_one_clear_error(config, tmp_path):
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    source = TASK.demo.predict_input(config, tmp_path)
    with pytest.raises(UserError, match="is a folder; give a file name"):
        lifecycle.predict(TASK, run.path, source, tmp_path)
    assert read_json(run.metrics_path)["test"]
