"""Resume is bit-identical (issue #34): a run interrupted after an epoch and rerun in its folder ends with
the same weights and the same history.csv as one that never stopped, for every task with its random state
switched on (dropout and recurrent dropout masks, word dropout, scheduled sampling, the shuffle order of
each epoch, random BPTT windows, sampled-softmax samples), and with a learning rate cut on plateaus.

Each task case trains two epochs in ``run/`` and copies that folder at the end of epoch 2, before that
epoch's backup: the folder as a kill at that moment leaves it. The copy then takes the finished run's
place and is rerun: it resumes after epoch 1. Evaluation and export are skipped: they read the trained
weights, which are compared bit for bit; a real kill -9 of the CLI is the slow test at the end.
"""
import shutil

import keras
import numpy as np
import pytest

from common import config as cfg
from common import lifecycle
from common import training
from common.errors import UserError
from common.registry import get_task
from common.run import RunFolder
from tests.common.test_training import Line, Scripted, fit_line, line_model, ones, train_config

EPOCHS = {"train.epochs": 2, "train.early_stopping_patience": 0, "train.verbose": "none",
          "train.tensorboard": False}
EVALUATE, EXPORT = lifecycle._evaluate_and_report, lifecycle._export_with_card
RNN_DROPOUT = {"dropout": 0.3, "recurrent_dropout": 0.2}


def _rnn(prefix, **values):
    return {f"model.{prefix}.{key}": value for key, value in {**RNN_DROPOUT, **values}.items()}


# Per task: dotted-key overrides over the demo config (on the demo data) that switch every random
# part of its training on and keep it to a few seconds.
CASES = {
    "forecasting": {"model.head_dropout": 0.3, **_rnn("rnn", units=8)},
    "sentiment": {"data.max_examples": 96, "train.batch_size": 16, "model.embedding_dim": 8,
                  "model.attention_units": 8, "model.embedding_dropout": 0.3, "model.dropout": 0.3,
                  "model.hidden_units": 8, **_rnn("rnn", units=8)},
    "ner": {"data.max_examples": 48, "train.batch_size": 16, "model.embedding_dim": 8, "model.char_dim": 4,
            "model.char_units": 4, "model.word_dropout": 0.3, "model.dropout": 0.3, **_rnn("rnn", units=8)},
    "translation": {"data.max_examples": 96, "train.batch_size": 16, "model.embedding_dim": 8,
                    "model.decoder_units": 8, "model.attention_units": 8, "model.dropout": 0.3,
                    "model.scheduled_sampling": 0.3, **_rnn("encoder", units=8)},
    "language_model": {"data.max_split_tokens": 400, "train.batch_size": 4, "data.bptt": 12,
                       "data.random_bptt": True, "model.embedding_dim": 8, "model.sampled_softmax": 8,
                       "model.embedding_dropout": 0.2, "model.output_dropout": 0.3, **_rnn("rnn", units=8)},
}


class Snapshot(keras.callbacks.Callback):
    """Copies ``folder`` to ``copy`` at the end of epoch 2 (1-based), before that epoch's backup."""

    def __init__(self, folder, copy):
        super().__init__()
        self.folder, self.copy = folder, copy

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == 2:
            shutil.copytree(self.folder, self.copy)


class LastWeights(keras.callbacks.Callback):
    """The weights the last epoch left (before `fit` loads the best checkpoint back)."""

    def on_train_end(self, logs=None):
        self.weights = [np.array(w) for w in self.model.get_weights()]


def task_config(name, tmp_path, **extra):
    task = get_task(name)
    data = task.demo.make_data(tmp_path / "data", seed=0)
    config = lifecycle.load_config(task, task.demo_config_path)
    return task, cfg.with_values(config, {**data, **EPOCHS, **CASES[name], **extra})


def train(task, config, folder, monkeypatch, snapshot=None, snapshot_task=None):
    """`lifecycle.train` of ``task`` in ``folder``, without its evaluation and export (those of the language
    models a recipe trains first still run); returns the weights its last epoch left. ``snapshot``: where
    to copy ``folder`` in the middle of training ``snapshot_task`` (default ``task``)."""
    last = LastWeights()

    def fit(fitted, *args, callbacks=(), **kwargs):
        added = [last] if fitted is task else []
        if snapshot and fitted is (snapshot_task or task) and not snapshot.exists():
            added.append(Snapshot(folder, snapshot))
        return training.fit(fitted, *args, callbacks=[*callbacks, *added], **kwargs)

    monkeypatch.setattr(lifecycle, "fit", fit)
    monkeypatch.setattr(lifecycle, "_evaluate_and_report",
                        lambda t, *a, **k: {} if t is task else EVALUATE(t, *a, **k))
    monkeypatch.setattr(lifecycle, "_export_with_card",
                        lambda t, *a, **k: None if t is task else EXPORT(t, *a, **k))
    lifecycle.train(task, config, folder, log=lambda *_: None)
    return last.weights


def assert_resumes_identically(task, config, tmp_path, monkeypatch, snapshot_task=None):
    """Train straight in ``run/``, then resume the snapshot of it in the same place (same absolute paths)."""
    run, killed, straight_folder = tmp_path / "run", tmp_path / "killed", tmp_path / "straight"
    straight = train(task, config, run, monkeypatch, snapshot=killed, snapshot_task=snapshot_task)
    assert killed.is_dir(), "the run ended before its second epoch"
    run.rename(straight_folder)
    killed.rename(run)
    resumed = train(task, config, run, monkeypatch)
    assert (run / "history.csv").read_text() == (straight_folder / "history.csv").read_text()
    assert len(resumed) == len(straight)
    for index, (a, b) in enumerate(zip(straight, resumed)):
        assert np.array_equal(a, b), f"weight {index} differs after resuming"


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_interrupted_run_resumes_to_the_same_weights_and_history(name, tmp_path, monkeypatch):
    task, config = task_config(name, tmp_path)
    assert_resumes_identically(task, config, tmp_path, monkeypatch)


@pytest.mark.slow  # minutes of training; `-m slow` runs it (the default run stays near 10 minutes)
def test_a_run_killed_while_pretraining_its_language_model_resumes_to_the_same_weights(
        tmp_path, monkeypatch, capsys):
    """Sentiment with the language-model recipe, killed in the middle of training that language model: the
    rerun resumes the language model, then trains the classifier from it as an uninterrupted run does."""
    task, config = task_config("sentiment", tmp_path, **{
        "model.rnn.bidirectional": False, "model.rnn.recurrent_dropout": 0.0,
        "model.pretraining.enabled": True, "model.pretraining.epochs": 2, "model.pretraining.batch_size": 4,
        "model.pretraining.bptt": 10, "model.pretraining.dropout": 0.3})
    assert_resumes_identically(task, config, tmp_path, monkeypatch, snapshot_task=get_task("language_model"))
    lm = tmp_path / "run" / "pretrained_lm" / "forward"
    assert f"Resuming the interrupted run in {lm}" in capsys.readouterr().out
    assert (lm / "history.csv").read_text() == (tmp_path / "straight" / "pretrained_lm" / "forward"
                                                 / "history.csv").read_text()


class Crash(Exception):
    pass


class CrashAt(keras.callbacks.Callback):
    """Dies at the end of epoch ``number`` (1-based), before that epoch's backup."""

    def __init__(self, number):
        super().__init__()
        self.number = number

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.number:
            raise Crash()


def test_a_resumed_run_cuts_the_learning_rate_at_the_same_epochs(tmp_path):
    """train.lr_schedule reduce_on_plateau: the cut made at the end of the epoch a run resumes after, and
    the schedule's memory (best value, epochs without improvement), survive the interruption."""
    # val_score never improves: with plateau patience 1 the rate halves after epochs 2, 3 and 4
    config = train_config(optimizer="sgd", learning_rate=0.1, lr_schedule="reduce_on_plateau",
                          lr_decay_rate=0.5, monitor="val_score", monitor_mode="min",
                          early_stopping_patience=3, epochs=4)
    straight_run, resumed_run = (RunFolder(tmp_path / name).create() for name in ("straight", "resumed"))
    _, straight, _, _ = fit_line(config, ones(), ones(), task=Line([Scripted([1.0] * 4)]), run=straight_run)
    assert straight.epoch_lr == pytest.approx([0.1, 0.1, 0.05, 0.025])
    with pytest.raises(Crash):
        fit_line(config, ones(), ones(), task=Line([Scripted([1.0] * 4), CrashAt(3)]), run=resumed_run)
    _, resumed, _, _ = fit_line(config, ones(), ones(), task=Line([Scripted([1.0] * 4)]), run=resumed_run)
    assert resumed.epoch_lr == pytest.approx([0.05, 0.025])  # epochs 3 and 4
    assert resumed_run.history_path.read_text() == straight_run.history_path.read_text()
    np.testing.assert_array_equal(resumed.weights[-1][0], straight.weights[-1][0])  # the last epoch's


def crash_line_run(run, config, build):
    with pytest.raises(Crash):
        fit_line(config, ones(), ones(), task=Line([CrashAt(2)]), run=run, build=build)


def test_resuming_with_a_model_built_differently_is_one_clear_error(tmp_path):
    config = train_config(optimizer="sgd", epochs=3, early_stopping_patience=0)
    run = RunFolder(tmp_path / "run").create()
    crash_line_run(run, config, line_model)
    with pytest.raises(UserError, match="written by a model built differently .* --overwrite"):
        fit_line(config, ones(), ones(), task=Line(), run=run, build=lambda: line_model(units=2))


@pytest.mark.parametrize("text, problem", [("[]", "not a JSON object"), ('{"epoch": 1}', "no 'weights' str"),
                                           (None, "a 'random' entry is not a pair of integers")])
def test_a_backup_manifest_of_the_wrong_shape_is_one_clear_error(tmp_path, text, problem):
    config = train_config(optimizer="sgd", epochs=3, early_stopping_patience=0)
    run = RunFolder(tmp_path / "run").create()
    crash_line_run(run, config, line_model)
    manifest = run.backup_dir / "backup.json"
    if text is None:
        text = manifest.read_text().replace('"random": []', '"random": [[1]]')
        assert '"random": [[1]]' in text
    manifest.write_text(text)
    with pytest.raises(UserError, match=f"backup in .* is damaged: backup.json \\({problem}\\)"):
        fit_line(config, ones(), ones(), task=Line(), run=run)


@pytest.mark.slow  # minutes of training; `-m slow` runs it (the default run stays near 10 minutes)
def test_a_language_model_killed_before_its_settings_changed_is_trained_anew(tmp_path, monkeypatch):
    """The recipe resumes a language model only with the settings (and text) it started with: after other
    settings, nothing of the interrupted run carries over, so it ends as a straight run with them does."""
    from types import SimpleNamespace

    from common.pretrained import recipe

    config = SimpleNamespace(seed=1, train=SimpleNamespace(verbose="none", deterministic=True))
    text = "the cat sat on the mat\nthe dog saw a bird\na bird flew over the house\n" * 8

    def pretrain(folder, dropout, callbacks=()):
        raw = {"data": {"granularity": "word", "val_fraction": 0.2, "bptt": 5},
               "model": {"embedding_dim": 4, "rnn": {"cell": "gru", "units": 4, "dropout": dropout}},
               "train": {"epochs": 2, "batch_size": 2, "learning_rate": 0.01}}
        monkeypatch.setattr(lifecycle, "fit", lambda *a, **k: training.fit(*a, callbacks=callbacks, **k))
        messages = []
        recipe.train_language_models(config, folder, "lm", text, raw, ["forward"], log=messages.append)
        return messages

    with pytest.raises(Crash):
        pretrain(tmp_path / "killed", 0.3, [CrashAt(2)])
    messages = pretrain(tmp_path / "killed", 0.1)
    assert not any("Resuming" in message for message in messages)
    pretrain(tmp_path / "straight", 0.1)
    history = [(tmp_path / name / "forward" / "history.csv").read_text() for name in ("killed", "straight")]
    assert history[0] == history[1]


@pytest.mark.slow  # three CLI processes: about a minute
def test_kill_9_of_a_sentiment_run_with_dropout_then_the_same_command_gives_the_same_model(tmp_path):
    """A real SIGKILL after the first backup, and a rerun in a fresh process (issue #34's report)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    task, config = task_config("sentiment", tmp_path, **{"train.epochs": 3})
    sets = [f"{key}={value}" for key, value in {**EPOCHS, **CASES["sentiment"], "train.epochs": 3,
                                                "data.path": config.data.path}.items()]
    command = [sys.executable, "-m", "tasks.sentiment", "train", "--config", str(task.demo_config_path),
               *[arg for item in sets for arg in ("--set", item)]]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = {"check": True, "capture_output": True, "env": env}
    subprocess.run(command + ["--run-dir", str(tmp_path / "straight")], **quiet)
    killed = subprocess.Popen(command + ["--run-dir", str(tmp_path / "killed")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    backup = tmp_path / "killed" / "checkpoints" / "backup"
    deadline = time.time() + 300
    while time.time() < deadline and killed.poll() is None and not (backup / "backup.json").exists():
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert backup.exists(), "the run finished before it could be killed"
    subprocess.run(command + ["--run-dir", str(tmp_path / "killed")], **quiet)
    history, metrics = ([(tmp_path / run / name).read_text() for run in ("straight", "killed")]
                        for name in ("history.csv", "metrics.json"))
    assert history[0] == history[1]
    test_metrics = [json.loads(text)["test"] for text in metrics]  # metrics.json's timings differ
    assert test_metrics[0] == test_metrics[1]
