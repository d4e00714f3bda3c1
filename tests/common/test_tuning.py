"""Tuning and scale-out: search-space validation, resume after a kill, distributed search, strategies."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError
from common.task import Prepared
from common.tuning import validate_space
from tasks.forecasting import TASK
from tests.conftest import REPO

QUIET = ["--set", "train.verbose=none", "--set", "train.tensorboard=false"]


def demo_config(**values):
    return cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), values)


@pytest.mark.parametrize("space, message", [
    ({"model.rnn.size": {"values": [1]}}, "'model.rnn.size' is not a config key"),
    ({"model.rnn.units": [8, 16]}, "expected {values: [...]}"),
    ({"model.rnn.cell": {"values": ["lstm", "tcn"]}}, "value 'tcn' is not valid"),
    ({"model.rnn": {"values": [1]}}, "only single values can be tuned"),
    ({}, "'tuner.search_space' is empty"),
])
def test_search_space_is_checked_before_any_trial(space, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("{", r"\{")):
        validate_space(demo_config(**{"tuner.search_space": space}))


def cli(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO), **kwargs.pop("env", {})}
    return subprocess.Popen([sys.executable, "-m", "tasks.forecasting", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def completed_trials(run_dir):
    done = []
    for path in (run_dir / "tuning").glob("trial_*/trial.json"):
        try:
            if json.loads(path.read_text())["status"] == "COMPLETED":
                done.append(path.parent.name)
        except (json.JSONDecodeError, KeyError, OSError):
            pass
    return sorted(done)


@pytest.fixture
def demo_data(tmp_path):
    return TASK.demo.make_data(tmp_path / "data")["data.path"]


@pytest.mark.parametrize("algorithm, trials", [pytest.param("bayesian", 3, marks=pytest.mark.slow),
                                               pytest.param("hyperband", None, marks=pytest.mark.slow)])
def test_a_killed_search_resumes_with_the_same_command(tmp_path, demo_data, algorithm, trials):
    run_dir = tmp_path / "tune"
    args = ["tune", "--config", str(TASK.demo_config_path), "--run-dir", str(run_dir), *QUIET,
            "--set", f"data.path={demo_data}", "--set", f"tuner.algorithm={algorithm}",
            "--set", "tuner.max_trials=3", "--set", "tuner.epochs=2"]
    first = cli(*args)
    deadline = time.time() + 300
    while not completed_trials(run_dir) and first.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert first.poll() is None, "the search ended before it could be interrupted:\n" + first.stdout.read()
    first.send_signal(signal.SIGKILL)
    first.wait()
    kept = completed_trials(run_dir)
    assert kept and not (run_dir / "best.yaml").exists()
    second = cli(*args)
    output, _ = second.communicate(timeout=600)
    assert second.returncode == 0, output[-3000:]
    assert "Reloading Tuner" in output
    table = pd.read_csv(run_dir / "trials.csv")
    assert (table["status"] == "COMPLETED").all()
    if trials:
        assert len(table) == trials
    assert set(kept) <= set(completed_trials(run_dir))
    assert lifecycle.load_config(TASK, run_dir / "best.yaml").name == "demo-best"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # two worker processes and a chief: about a minute on 2 cores
def test_distributed_search_shares_trials_between_workers(tmp_path, demo_data):
    run_dir, port = tmp_path / "tune", free_port()
    args = ["tune", "--config", str(TASK.demo_config_path), "--run-dir", str(run_dir), *QUIET,
            "--set", f"data.path={demo_data}", "--set", "tuner.max_trials=4", "--set", "tuner.epochs=1",
            "--oracle-ip", "127.0.0.1", "--oracle-port", str(port)]
    chief = cli(*args, "--tuner-id", "chief")
    time.sleep(3)
    workers = [cli(*args, "--tuner-id", f"tuner{i}") for i in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    chief_output = chief.communicate(timeout=120)[0]
    assert chief.returncode == 0, chief_output[-3000:]
    runs = []
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
        runs.append(int(output.strip().splitlines()[-1].split()[-1]))
    assert sum(runs) == 4 and min(runs) >= 1, runs  # shared out, and every trial ran once
    table = pd.read_csv(run_dir / "trials.csv")
    assert len(table) == 4 and (table["status"] == "COMPLETED").all()
    assert (run_dir / "best.yaml").exists()


@pytest.mark.slow  # a fresh process with two logical CPU devices
def test_mirrored_strategy_trains_on_two_logical_cpus(tmp_path, demo_data):
    process = cli("train", "--config", str(TASK.demo_config_path), "--run-dir", str(tmp_path / "run"), *QUIET,
                  "--set", f"data.path={demo_data}", "--set", "train.epochs=1",
                  "--set", "train.distribution=mirrored", "--set", "train.cpu_replicas=2")
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    doc = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert doc["training"]["replicas"] == 2 and doc["test"]["mse"] > 0


@pytest.mark.xfail(reason="Keras 3 fit() under MultiWorkerMirroredStrategy fails upstream with 'Attempt to convert "
                          "a value (PerReplica...)': keras-team/keras#20585, tensorflow/tensorflow#72388",
                   strict=True)
@pytest.mark.slow
def test_multi_worker_strategy_trains_with_two_local_workers(tmp_path, demo_data):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(cli("train", "--config", str(TASK.demo_config_path), "--run-dir", str(tmp_path / f"w{index}"),
                           *QUIET, "--set", f"data.path={demo_data}", "--set", "train.epochs=1",
                           "--set", "train.distribution=multi_worker", env={"TF_CONFIG": tf_config}))
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-2000:]
    doc = json.loads((tmp_path / "w0" / "metrics.json").read_text())
    assert doc["training"]["replicas"] == 2


def test_boolean_choices_stay_booleans():
    import keras_tuner as kt

    from common.tuning import ConfigHyperModel

    config = demo_config(**{"tuner.search_space": {"model.rnn.bidirectional": {"values": [True, False]}}})
    hp = kt.HyperParameters()
    trial_config = ConfigHyperModel(TASK, config, config.tuner.search_space).config_for(hp)
    assert trial_config.model.rnn.bidirectional is True


class Killed(BaseException):
    """Stands in for kill -9 at the start of a trial: KerasTuner catches only ``Exception``, so no handler
    runs on the way out and the search folder stays exactly as a kill at that moment leaves it."""


@dataclass
class LineModelConfig:
    units: int = cfg.option(1, "Output units.", min=1)


class LineTask:
    """The smallest task `tune` can search: y = 2x through one Dense layer (a trial takes a fraction of a
    second, where a forecasting GRU takes seconds to trace). Only the hooks `tune` calls."""

    name, description, predict_input_help = "line", "y = 2x", "unused"  # what the CLI's parser shows
    default_monitor = "val_loss"
    demo_config_path = REPO / "configs" / "line.yaml"  # none: the CLI only compares against it
    config_class = cfg.run_config_class("line", cfg.BaseDataConfig, LineModelConfig)

    def prepare(self, config, state=None):
        x = np.arange(1, 9, dtype="float32").reshape(-1, 1)
        data = tf.data.Dataset.from_tensor_slices((x, 2 * x)).batch(4)
        return Prepared(train=data, val=data, test=data)

    def build_model(self, config, prepared):
        inputs = keras.Input((1,))
        return keras.Model(inputs, keras.layers.Dense(config.model.units)(inputs))

    def compile_args(self, config, prepared):
        return {"loss": "mse"}

    def callbacks(self, model, config, prepared):
        return []


LINE = LineTask()


def line_search(**values):
    """Two one-epoch trials of a random search over train.learning_rate (a log range: never a repeat)."""
    space = {"train.learning_rate": {"min": 0.001, "max": 0.1, "sampling": "log"}}
    return cfg.from_dict(LINE.config_class, {
        "data": {"path": "generated"}, "train": {"optimizer": "sgd", "verbose": "none", "tensorboard": False},
        "tuner": {"algorithm": "random", "max_trials": 2, "epochs": 1, "search_space": space, **values}})


def test_a_search_killed_mid_trial_resumes_without_redoing_finished_trials(tmp_path, monkeypatch):
    """The fast version of the slow SIGKILL test above: killed as the second trial starts, then rerun."""
    from common import tuning

    config, run_dir, fitted = line_search(), tmp_path / "tune", []
    original = tuning.ConfigHyperModel.fit

    def fit(self, hp, model, *args, **kwargs):
        fitted.append(hp.values["train.learning_rate"])
        if len(fitted) == 2:
            raise Killed()
        return original(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(tuning.ConfigHyperModel, "fit", fit)
    with pytest.raises(Killed):
        tuning.tune(LINE, config, run_dir)
    assert completed_trials(run_dir) == ["trial_0"] and not (run_dir / "best.yaml").exists()
    finished = (run_dir / "tuning" / "trial_0" / "trial.json").read_text()
    tuning.tune(LINE, config, run_dir)  # the same command again
    assert len(fitted) == 3 and fitted[2] == fitted[1]  # only the killed trial ran again, with its own values
    table = pd.read_csv(run_dir / "trials.csv")
    assert table["trial"].tolist() == [0, 1] and (table["status"] == "COMPLETED").all()
    assert table["train.learning_rate"].tolist() == pytest.approx(fitted[:2])
    assert (run_dir / "tuning" / "trial_0" / "trial.json").read_text() == finished  # not redone


WORKER = """
import sys
from common.cli import main
from tests.common.test_tuning import LINE
main(LINE, ["tune", "--config", sys.argv[1], "--run-dir", sys.argv[2], "--tuner-id", "tuner0",
            "--oracle-ip", "127.0.0.1", "--oracle-port", sys.argv[3]])
"""


def test_a_distributed_search_runs_the_trials_on_a_worker_and_the_chief_writes_results(tmp_path, monkeypatch):
    """The fast version of the slow test above: the chief in a thread of this process, one worker (the CLI)
    in its own, on loopback, sharing the run folder."""
    from common import tuning

    config, run_dir, port = line_search(), tmp_path / "tune", str(free_port())
    cfg.save_yaml(cfg.to_dict(config), tmp_path / "line.yaml")
    for key, value in {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": "127.0.0.1",
                       "KERASTUNER_ORACLE_PORT": port}.items():
        monkeypatch.setenv(key, value)
    chief_result = {}

    def chief():
        try:
            chief_result["best"] = tuning.tune(LINE, config, run_dir)[1]
        except BaseException as exc:  # noqa: BLE001 (shown by the assertion below)
            chief_result["error"] = exc

    thread = threading.Thread(target=chief, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    worker = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "line.yaml"), str(run_dir), port],
                            env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stderr[-3000:]
    thread.join(timeout=60)
    assert not thread.is_alive() and "error" not in chief_result, chief_result
    assert worker.stdout.strip().splitlines()[-1].split() == ["tuner0", "2"]  # the worker ran both trials
    table = pd.read_csv(run_dir / "trials.csv")
    assert len(table) == 2 and (table["status"] == "COMPLETED").all()
    best = table.loc[table["score"].idxmin()]
    assert chief_result["best"]["val_loss"] == pytest.approx(best["score"])
    best_config = cfg.load_yaml(run_dir / "best.yaml")
    assert best_config["train"]["learning_rate"] == pytest.approx(best["train.learning_rate"])
