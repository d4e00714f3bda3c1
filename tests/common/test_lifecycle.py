"""The shared lifecycle: nothing half-written, resume where a run stopped, one-line failures."""
from types import SimpleNamespace

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
    fitted = lambda training: {k: v for k, v in training.items()  # noqa: E731  (evaluation is timed anew)
                               if k not in ("evaluate_seconds", "baselines_seconds")}
    assert again["test"] == doc["test"] and fitted(again["training"]) == fitted(doc["training"])
    assert again["training"]["train_seconds"] == doc["training"]["train_seconds"]
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


class Crash(Exception):
    pass


def crash_in_epoch(number):
    """A callback that dies at the end of epoch ``number`` (1-based), before that epoch's backup."""
    import keras

    class CrashCallback(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == number:
                raise Crash()

    return CrashCallback()


def train_crashing(config, folder, monkeypatch, epoch):
    from common import training

    original = training.fit
    monkeypatch.setattr(lifecycle, "fit", lambda *a, **k: original(*a, callbacks=[crash_in_epoch(epoch)], **k))
    with pytest.raises(Crash):
        lifecycle.train(TASK, config, folder, log=lambda *_: None)
    monkeypatch.setattr(lifecycle, "fit", original)


@pytest.fixture
def three_epochs(config):
    return cfg.with_values(config, {"train.epochs": 3, "train.early_stopping_patience": 0})


def test_a_resumed_run_ends_exactly_like_an_uninterrupted_one(three_epochs, tmp_path, monkeypatch):
    _, straight = lifecycle.train(TASK, three_epochs, tmp_path / "straight", log=lambda *_: None)
    train_crashing(three_epochs, tmp_path / "resumed", monkeypatch, epoch=2)
    run, resumed = lifecycle.train(TASK, three_epochs, tmp_path / "resumed", log=lambda *_: None)
    assert resumed["test"] == straight["test"]  # same data order, weights and optimizer state after resuming
    assert run.history_path.read_text() == (tmp_path / "straight" / "history.csv").read_text()


def test_a_damaged_newest_backup_falls_back_to_the_previous_one(three_epochs, tmp_path, monkeypatch):
    _, straight = lifecycle.train(TASK, three_epochs, tmp_path / "straight", log=lambda *_: None)
    train_crashing(three_epochs, tmp_path / "run", monkeypatch, epoch=3)
    run = lifecycle.RunFolder(tmp_path / "run")
    newest = run.backup_dir / "epoch-2.weights.h5"
    newest.write_bytes(newest.read_bytes()[:100])  # as a kill during a non-atomic write would leave it
    _, resumed = lifecycle.train(TASK, three_epochs, run.path, log=lambda *_: None)
    assert resumed["test"] == straight["test"]


def test_a_backup_damaged_beyond_repair_is_one_clear_error(three_epochs, tmp_path, monkeypatch):
    train_crashing(three_epochs, tmp_path / "run", monkeypatch, epoch=2)
    run = lifecycle.RunFolder(tmp_path / "run")
    (run.backup_dir / "backup.json").write_text("{trunc")
    with pytest.raises(UserError, match="backup in .* is damaged.*--overwrite"):
        lifecycle.train(TASK, three_epochs, run.path, log=lambda *_: None)


@pytest.mark.slow  # three CLI processes: about 30 s (the in-process crash tests above run by default)
def test_kill_9_mid_training_then_the_same_command_gives_the_same_metrics(config, tmp_path):
    """A real SIGKILL, at whatever point the process has reached after its first backup."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    sets = [f"{k}={v}" for k, v in {**QUICK, "train.epochs": 4, "train.early_stopping_patience": 0,
                                   "data.path": config.data.path}.items()]
    command = [sys.executable, "-m", "tasks.forecasting", "train", "--config", str(TASK.demo_config_path),
               *[arg for item in sets for arg in ("--set", item)]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(command + ["--run-dir", str(tmp_path / "straight")], env=env, check=True, capture_output=True)
    killed = subprocess.Popen(command + ["--run-dir", str(tmp_path / "killed")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backup = tmp_path / "killed" / "checkpoints" / "backup"
    deadline = time.time() + 300
    while time.time() < deadline and killed.poll() is None and not list(backup.glob("epoch-2.*")):
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert backup.exists(), "the run finished before it could be killed"
    subprocess.run(command + ["--run-dir", str(tmp_path / "killed")], env=env, check=True, capture_output=True)
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "metrics.json").read_text())
    assert resumed["test"] == straight["test"]


def test_a_training_run_records_what_evaluation_and_baselines_cost(config, tmp_path, monkeypatch):
    """metrics.json's training entry says how long the test evaluation and the baselines took, beside
    train_seconds (a benchmark's share of time outside training)."""
    clock = iter(range(0, 10_000, 7))  # the lifecycle's clock: each reading is 7 s after the previous one
    monkeypatch.setattr(lifecycle, "time", SimpleNamespace(time=lambda: float(next(clock))))
    _, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert doc["training"]["evaluate_seconds"] == 7.0 and doc["training"]["baselines_seconds"] == 7.0


def _run_with_state(tmp_path, state):
    run = lifecycle.RunFolder(tmp_path / "run").create()
    lifecycle._write_state(run, state)
    return run


def test_a_state_json_of_another_shape_than_train_wrote_names_the_key_and_the_fix(tmp_path):
    run = _run_with_state(tmp_path, {"targets": ["y"], "mean": [1.0, 2.0]})
    run.state_path.write_text('{"targets": ["y"], "mean": "1.0"}')
    damaged = r"state.json is damaged \('mean' is a string, train wrote an array\); .*train --overwrite"
    with pytest.raises(UserError, match=damaged):
        lifecycle.read_state(run)


def test_a_state_json_with_a_key_train_did_not_write_is_damaged(tmp_path):
    run = _run_with_state(tmp_path, {"labels": ["neg", "pos"]})
    run.state_path.write_text('{"labels": ["neg", "pos"], "extra": 1}')
    with pytest.raises(UserError, match="the key 'extra' is not one train wrote"):
        lifecycle.read_state(run)


def test_a_state_json_as_train_wrote_it_reads_back(tmp_path):
    run = _run_with_state(tmp_path, {"labels": ["neg", "pos"], "freq": None})
    assert lifecycle.read_state(run) == {"labels": ["neg", "pos"], "freq": None}


@pytest.mark.parametrize("output", ["in.csv", "run/state.json", "run/export/out.csv"])
def test_predict_refuses_an_output_that_would_overwrite_an_input(tmp_path, output):
    run = _run_with_state(tmp_path, {"a": 1})
    (tmp_path / "in.csv").write_text("y\n1\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(UserError, match="overwrite"):
        lifecycle.predict(TASK, run.path, tmp_path / "in.csv", tmp_path / output)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_train_refuses_a_config_file_inside_the_run_folder(config, tmp_path):
    (tmp_path / "run").mkdir()
    cfg.save_yaml(cfg.to_dict(config), tmp_path / "run" / "config.yaml")
    saved = lifecycle.load_config(TASK, tmp_path / "run" / "config.yaml")
    with pytest.raises(UserError, match="--config .*config.yaml is inside the run folder"):
        lifecycle.train(TASK, saved, tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.yaml"]
