"""The shared lifecycle: nothing half-written, resume where a run stopped, one-line failures."""
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

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


# ---- issue #34, second round: refusals that leave the run folder as it was ----------------------------
def contents(folder) -> dict:
    """Every file under ``folder`` with its bytes: a refusal must leave them all byte-identical."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(Path(folder).rglob("*"))
            if path.is_file()}


def test_an_interrupted_run_rerun_with_other_settings_is_refused_before_anything_is_written(
        three_epochs, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train_crashing(three_epochs, run, monkeypatch, epoch=2)
    before = contents(run)
    other = cfg.with_values(three_epochs, {"model.rnn.units": 7, "train.learning_rate": 0.5})
    with pytest.raises(UserError) as exc:
        lifecycle.train(TASK, other, run, log=lambda *_: None)
    assert str(exc.value) == (f"{run} holds an unfinished run that started with other settings "
                              "(model.rnn.units was 32, now 7; train.learning_rate was 0.003, now 0.5); "
                              f"rerun with the settings in {run / 'config.yaml'} to continue it, or pass "
                              f"--overwrite to start afresh in {run}")
    assert contents(run) == before


def test_a_run_killed_after_training_rerun_with_other_settings_keeps_its_model(config, tmp_path):
    """Before: the folder was cleared and trained anew, losing the trained model without a word."""
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    run.metrics_path.unlink()  # as if killed during evaluation
    before = contents(run.path)
    with pytest.raises(UserError, match=r"unfinished run that started with other settings \(train.epochs was "
                                        r"2, now 3\).*--overwrite"):
        lifecycle.train(TASK, cfg.with_values(config, {"train.epochs": 3}), run.path, log=lambda *_: None)
    assert contents(run.path) == before


def test_an_interrupted_run_rerun_on_other_data_is_refused_naming_what_changed(three_epochs, tmp_path,
                                                                                 monkeypatch):
    train_crashing(three_epochs, tmp_path / "run", monkeypatch, epoch=2)
    before = contents(tmp_path / "run")
    data = Path(three_epochs.data.path)
    frame = __import__("pandas").read_csv(data)
    frame["load"] += 100.0  # same file, other values: the fitted scaling differs
    frame.to_csv(data, index=False)
    with pytest.raises(UserError) as exc:
        lifecycle.train(TASK, three_epochs, tmp_path / "run", log=lambda *_: None)
    state = re.escape(str(tmp_path / "run" / "state.json"))
    assert re.fullmatch(rf".* holds an unfinished run that started on other data: what train fits on it "
                        rf"differs from {state} \(.*'mean'.*\); rerun with the data it started with to "
                        r"continue it, or pass --overwrite to start afresh in .*", str(exc.value))
    assert contents(tmp_path / "run") == before


def test_an_interrupted_run_whose_config_yaml_is_missing_is_refused(three_epochs, tmp_path, monkeypatch):
    train_crashing(three_epochs, tmp_path / "run", monkeypatch, epoch=2)
    (tmp_path / "run" / "config.yaml").unlink()
    before = contents(tmp_path / "run")
    with pytest.raises(UserError, match=r"config.yaml is missing, so the unfinished run in .* cannot be "
                                        r"continued; restore it, or pass --overwrite"):
        lifecycle.train(TASK, three_epochs, tmp_path / "run", log=lambda *_: None)
    assert contents(tmp_path / "run") == before


def test_a_rerun_that_only_prints_differently_resumes_and_keeps_the_config_it_started_with(
        three_epochs, tmp_path, monkeypatch):
    train_crashing(three_epochs, tmp_path / "run", monkeypatch, epoch=2)
    saved = (tmp_path / "run" / "config.yaml").read_bytes()
    digest = (tmp_path / "run" / "checkpoints" / "config.sha256").read_bytes()
    messages = []
    louder = cfg.with_values(three_epochs, {"train.verbose": "epoch", "train.tensorboard": True})
    lifecycle.train(TASK, louder, tmp_path / "run", log=messages.append)
    assert messages[0].startswith("Resuming the interrupted run")
    assert (tmp_path / "run" / "config.yaml").read_bytes() == saved
    assert (tmp_path / "run" / "checkpoints" / "config.sha256").read_bytes() == digest  # and still matches:
    assert lifecycle.load_config(TASK, tmp_path / "run" / "config.yaml", saved_run=True).train.epochs == 3


def test_overwrite_starts_an_interrupted_run_afresh_even_when_its_backup_is_damaged(three_epochs, tmp_path,
                                                                                     monkeypatch):
    """The backup errors name --overwrite as the fix: it must not resume (and fail on) that backup."""
    train_crashing(three_epochs, tmp_path / "run", monkeypatch, epoch=2)
    (tmp_path / "run" / "checkpoints" / "backup" / "backup.json").write_text("{trunc")
    messages = []
    run, doc = lifecycle.train(TASK, three_epochs, tmp_path / "run", overwrite=True, log=messages.append)
    assert not any("Resuming" in message for message in messages)
    assert len(run.history_path.read_text().splitlines()) == 1 + 3 and doc["test"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished forecasting runs of other sizes (rnn units 32 and 8), trained once for this module."""
    folder = tmp_path_factory.mktemp("two_runs")
    overrides = TASK.demo.make_data(folder / "data", seed=0)
    base = cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {**overrides, **QUICK})
    for name, units in (("a", 32), ("b", 8)):
        lifecycle.train(TASK, cfg.with_values(base, {"model.rnn.units": units}), folder / name,
                        log=lambda *_: None)
    return folder


def copied_run(two_runs, tmp_path, name="a"):
    __import__("shutil").copytree(two_runs / name, tmp_path / name)
    return lifecycle.RunFolder(tmp_path / name)


@pytest.mark.parametrize("command", ["evaluate", "export"])
def test_a_model_keras_copied_from_another_run_is_refused_naming_the_file_and_the_fix(two_runs, tmp_path,
                                                                                       command):
    run = copied_run(two_runs, tmp_path)
    run.model_path.write_bytes((two_runs / "b" / "model.keras").read_bytes())
    before = contents(run.path)
    with pytest.raises(UserError) as exc:
        getattr(lifecycle, command)(TASK, run.path)
    a, b = (json.loads((two_runs / name / "checkpoints" / "model.schema.json").read_text()) for name in "ab")
    assert str(exc.value) == (f"{run.model_path} is not the model this run trained (it has {b['parameters']} "
                              f"parameters in {len(b['weights'])} weights, the model this run trained had "
                              f"{a['parameters']} in {len(a['weights'])}: copied from another run?); "
                              "restore the run's own model.keras, or re-train: train --overwrite --run-dir "
                              f"{run.path}")
    assert a["parameters"] != b["parameters"] and contents(run.path) == before


def test_a_model_keras_of_another_architecture_is_refused(two_runs, tmp_path):
    import keras

    run = copied_run(two_runs, tmp_path)
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(str(run.model_path))
    with pytest.raises(UserError, match=r"model.keras is not the model this run trained \(it has 8 "
                                        r"parameters in 2 weights, .*re-train: train --overwrite"):
        lifecycle.evaluate(TASK, run.path)


def test_a_model_of_the_same_size_with_other_shapes_names_a_differing_weight(two_runs, tmp_path):
    run = copied_run(two_runs, tmp_path)
    record = json.loads(run.model_schema_path.read_text())
    found = next(shape for shape in record["weights"] if shape != shape[::-1])
    record["weights"][record["weights"].index(found)] = found[::-1]  # same parameters, one shape transposed
    run.model_schema_path.write_text(json.dumps(record))
    with pytest.raises(UserError, match=re.escape(f"it has a weight of shape {found} where the model this "
                                                  f"run trained had {found[::-1]}")):
        lifecycle.export(TASK, run.path)


def test_a_run_from_before_the_model_record_still_loads(two_runs, tmp_path):
    run = copied_run(two_runs, tmp_path)
    run.model_schema_path.unlink()
    _, _, _, model = lifecycle.load_run(TASK, run.path)
    assert model.count_params() == read_json(two_runs / "a" / "checkpoints" / "training.json")["parameters"]


def test_a_run_killed_after_training_with_a_foreign_model_is_refused_before_writing(two_runs, tmp_path):
    run = copied_run(two_runs, tmp_path)
    run.metrics_path.unlink()
    run.model_path.write_bytes((two_runs / "b" / "model.keras").read_bytes())
    before = contents(run.path)
    (tmp_path / "config.yaml").write_bytes(run.config_path.read_bytes())  # the settings it started with
    config = lifecycle.load_config(TASK, tmp_path / "config.yaml")
    with pytest.raises(UserError, match="model.keras is not the model this run trained"):
        lifecycle.train(TASK, config, run.path, log=lambda *_: None)
    assert contents(run.path) == before


def test_messages_quote_a_long_state_key_at_most_about_200_characters(tmp_path):
    run = _run_with_state(tmp_path, {"labels": ["neg", "pos"]})
    run.state_path.write_text(json.dumps({"labels": ["neg", "pos"], "k" * 100_000: 1}))
    with pytest.raises(UserError) as exc:
        lifecycle.read_state(run)
    assert f"the key {cfg.shown('k' * 100_000)} is not one train wrote" in str(exc.value)
    assert len(str(exc.value).replace(str(run.path), "")) < 350


def test_relative_data_globs_and_lists_are_saved_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "days").mkdir()
    for day in range(2):
        (tmp_path / "days" / f"day-{day}.csv").write_text("date,a,b\n")
    base = lifecycle.load_config(TASK, TASK.demo_config_path)
    config = cfg.with_values(base, {"data.path": None, "data.train": "days/day-*.csv",
                                    "data.val": ["days/day-0.csv", "days/day-1.csv"],
                                    "data.test": "elsewhere/*.csv"})
    saved = lifecycle.with_absolute_data_paths(config).data
    assert saved.train == str(tmp_path / "days" / "day-*.csv")
    assert saved.val == [str(tmp_path / "days" / "day-0.csv"), str(tmp_path / "days" / "day-1.csv")]
    assert saved.test == "elsewhere/*.csv"  # matches nothing here: left for $RNNSUITE_DATA


def test_a_state_key_the_task_reads_but_the_file_lacks_is_one_line_naming_state_json(tmp_path):
    """A run whose state.schema.json is gone reaches the task's code unchecked: its KeyError becomes a line."""
    run = SimpleNamespace(state_path=tmp_path / "state.json", path=tmp_path)
    with pytest.raises(UserError, match=r"state.json is damaged \(the key 'labels' is missing\); restore it"):
        with lifecycle.reading_state(run, {"unrelated": 1}):
            {"unrelated": 1}["labels"]
    with pytest.raises(KeyError):  # a key the state holds: a bug elsewhere, not damage, stays a KeyError
        with lifecycle.reading_state(run, {"labels": 1}):
            {}["labels"]


# ---- issue #34, sixth round: a config.yaml edited after training ---------------------------------------
def _edit_config(run, change) -> None:
    raw = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
    change(raw)
    run.config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def test_a_config_yaml_edited_after_training_is_refused_by_every_command_that_loads_the_run(config, tmp_path):
    """evaluate, export and predict would rebuild the pipeline with settings the model never saw and report
    or serve the mix; the digest train recorded beside config.yaml tells the edit."""
    from common.api import Run

    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert re.fullmatch(r"[0-9a-f]{64}\n", run.config_digest_path.read_text(encoding="ascii"))
    trained = run.config_path.read_bytes()
    _edit_config(run, lambda raw: raw["data"].update(lookback=raw["data"]["lookback"] * 2))
    source = TASK.demo.predict_input(config, tmp_path)
    before = contents(run.path)
    message = (f"{run.config_path} changed since the run was trained (its settings differ from those "
               f"recorded in {run.config_digest_path}); restore the file the run was trained with, or train "
               f"the new settings from a copy outside the run folder: train --config <copy> --overwrite "
               f"--run-dir {run.path}")
    commands = {"evaluate": lambda: lifecycle.evaluate(TASK, run.path),
                "export": lambda: lifecycle.export(TASK, run.path),
                "predict": lambda: lifecycle.predict(TASK, run.path, source, tmp_path / "out.csv"),
                "Run.config": lambda: Run(TASK, run.path).config}
    for name, command in commands.items():
        with pytest.raises(UserError) as exc:
            command()
        assert str(exc.value) == message, name
    assert contents(run.path) == before and not (tmp_path / "out.csv").exists()
    run.config_path.write_bytes(trained)  # restored: the run loads again
    assert lifecycle.evaluate(TASK, run.path)[1]["test"]


def test_comments_key_order_and_moved_data_are_not_an_edit_and_a_run_without_a_digest_is_not_checked(
        config, tmp_path):
    """The digest is of the settings: a comment, another key order or data moved to another place (the data
    keys say where it lives, not what was trained) keep the run loadable. A run from before the digest, or
    one whose record is lost or unreadable, is loaded as before."""
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    moved = tmp_path / "moved.csv"
    moved.write_bytes(Path(config.data.path).read_bytes())
    raw = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
    raw["data"]["path"] = str(moved)
    text = "# moved to another disk\n" + yaml.safe_dump(raw, sort_keys=True)
    run.config_path.write_text(text, encoding="utf-8")
    assert lifecycle.load_config(TASK, run.config_path, saved_run=True).data.path == str(moved)
    _edit_config(run, lambda raw: raw["train"].update(batch_size=7))
    with pytest.raises(UserError, match="config.yaml changed since the run was trained"):
        lifecycle.load_config(TASK, run.config_path, saved_run=True)
    for record in ("not a digest\n", None):
        if record is None:
            run.config_digest_path.unlink()
        else:
            run.config_digest_path.write_text(record, encoding="ascii")
        assert lifecycle.load_config(TASK, run.config_path, saved_run=True).train.batch_size == 7
