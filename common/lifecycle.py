"""The lifecycle every task shares: train, evaluate, export, predict (tune lives in common.tuning).

Each function takes a `Task` and works only through its hooks, so a new task
gets the run folder, resumption, atomic artifacts and reports by registering.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import keras

from common import config as cfg
from common.errors import ConfigError, UserError, warn
from common.export import load_serving, write_export
from common.io import atomic_path, atomic_write_json, atomic_write_text, read_json
from common.model_card import write_model_card
from common.plots import save_learning_curves
from common.report import write_report
from common.run import RunFolder
from common.training import compile_model, fit, seed_everything, split_cpu, strategy_for


def load_config(task, path=None, overrides=(), saved_run=False):
    """Read a YAML config (or the task's demo config), apply ``--set`` overrides and validate.

    ``saved_run``: the config.yaml of a run folder, whose renamed keys are carried over."""
    raw = cfg.load_yaml(path) if path is not None else {}
    if saved_run:
        raw = cfg.migrate_renamed(task.config_class, raw)
    raw.setdefault("task", task.name)
    if raw.get("task") != task.name:
        raise ConfigError(f"{path}: this config is for task '{raw.get('task')}', not '{task.name}'; "
                          f"use `python -m tasks.{raw.get('task')}`")
    for item in overrides:
        keys, value = cfg.parse_override(item)
        cfg.apply_override(raw, keys, value)
    return cfg.from_dict(task.config_class, raw)


def _data_paths(data) -> list[str]:
    return [p for p in (data.path, data.train, data.val, data.test) if p]


def with_demo_data(task, config, log=print) -> None:
    """The demo config runs as the README shows it: on first use its data is generated where it points
    (unless ``--set`` pointed the config at other data)."""
    paths = _data_paths(config.data)
    if paths != _data_paths(load_config(task, task.demo_config_path).data) or all(Path(p).exists() for p in paths):
        return
    folder = Path("demo_data") / task.name
    written = task.demo.make_data(folder, seed=0)
    log(f"Wrote the demo data into {folder}/ (first use of the demo config)")
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"the demo config names {', '.join(missing)}, but the demo data is "
                        f"{', '.join(str(v) for k, v in written.items() if k.startswith('data.') and '/' in str(v))}; "
                        "point the config at those files")


def with_absolute_data_paths(config):
    """Data paths that name files in the working directory, made absolute: the run's config.yaml then
    works from any directory (evaluate, export, a rerun). Benchmark-layout paths such as
    ``ett/ETTh1.csv`` that resolve through $RNNSUITE_DATA stay as they are, portable across machines."""
    keys = {f"data.{key}": str(Path(value).resolve()) for key in ("path", "train", "val", "test")
            if (value := getattr(config.data, key)) and not Path(value).is_absolute()
            and "{" not in value and Path(value).exists()}
    return cfg.with_values(config, keys) if keys else config


def run_folder(task, config, run_dir=None) -> RunFolder:
    return RunFolder(run_dir) if run_dir else RunFolder.default(task.name, config.name)


def load_run(task, run_dir):
    """Config, fitted state and trained model of a finished run."""
    run = RunFolder(run_dir)
    run.require(run.config_path, run.state_path, run.model_path)
    config = load_config(task, run.config_path, saved_run=True)
    state = read_json(run.state_path)
    model = keras.saving.load_model(str(run.model_path), compile=False)
    return run, config, state, model


def train(task, config, run_dir=None, overwrite=False, log=print):
    """Fit, evaluate on the test split, export; a rerun in the same folder picks up where a run stopped.

    The data is read and validated before anything is written, so a bad file leaves no
    half-made run folder. An interrupted fit resumes from its backup; a run killed after
    its model was saved goes straight to evaluation and export.
    """
    run = run_folder(task, config, run_dir)
    run.check_is_folder()
    resuming = run.is_interrupted()
    if run.is_finished() and not overwrite:
        raise UserError(f"{run.path} already holds a finished run; pass --overwrite to replace it "
                        "or --run-dir for a new folder")
    config = task.with_run_folder(with_absolute_data_paths(config), run.path)
    split_cpu(config.train.cpu_replicas)
    strategy = strategy_for(config.train.distribution)  # before any op: multi-worker needs a fresh runtime
    seed_everything(config.seed, config.train.deterministic)
    started = time.time()
    prepared = task.prepare(config, None)
    trained_before = (not overwrite and not resuming and run.model_path.exists() and run.config_path.exists()
                      and load_config(task, run.config_path, saved_run=True) == config)
    if run.is_finished() or (run.path.exists() and not resuming and not trained_before):
        run.clear()  # a finished run being replaced, or leftovers of one that died before its first epoch
    made = [folder for folder in (run.path, *run.path.parents) if not folder.exists()]  # removed on failure
    run.create()
    run.failed_path.unlink(missing_ok=True)
    cfg.save_yaml(cfg.to_dict(config), run.config_path)
    atomic_write_json(run.state_path, prepared.state)
    if trained_before:
        log(f"Training in {run.path} had finished; evaluating and exporting")
        model = keras.saving.load_model(str(run.model_path), compile=False)
        training = read_json(run.training_path)
    else:
        if resuming:
            log(f"Resuming the interrupted run in {run.path}")
        with strategy.scope():
            model = task.build_model(config, prepared)
            compile_model(task, model, config, prepared)
        try:
            best, history = fit(task, model, config, prepared, run)
        except UserError:
            if not run.is_interrupted() and not resuming:
                run.clear()  # stopped before its first epoch's backup (e.g. train.monitor is not a metric)
                for folder in made:
                    _remove_if_empty(folder)
            raise
        _stop_if_diverged(run, history)
        training = {"best_epoch": (best.best_epoch + 1) if best.best_epoch is not None else None,
                    "best_" + best.monitor: best.best, "train_seconds": round(time.time() - started, 1),
                    "parameters": int(model.count_params()), "replicas": int(strategy.num_replicas_in_sync)}
        atomic_write_json(run.training_path, training)
        with atomic_path(run.model_path) as tmp:
            model.save(str(tmp))
    metrics = _evaluate_and_report(task, model, config, prepared, run, "test", training=training)
    _export_with_card(task, model, config, prepared, run)
    return run, metrics


def _remove_if_empty(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):  # empty subfolders first
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _stop_if_diverged(run, history) -> None:
    """A loss that became NaN/inf ends the run with one line and a FAILED note in its folder."""
    losses = history.history.get("loss", [])
    bad = next((i for i, value in enumerate(losses) if not math.isfinite(value)), None)
    if bad is None:
        return
    message = (f"training diverged: the loss became {losses[bad]} in epoch {bad + 1}; lower "
               "train.learning_rate or set train.clipnorm (e.g. 1.0), then rerun")
    atomic_write_text(run.failed_path, message + "\n")
    raise UserError(message)


def _export_with_card(task, model, config, prepared, run):
    example = task.serving_example(config, prepared)
    write_export(task, model, config, prepared, run.export_dir,
                 add_files=lambda folder, signatures: write_model_card(folder, run, task, config, prepared,
                                                                       signatures, example))


def _evaluate_and_report(task, model, config, prepared, run, split, training=None):
    """Evaluate ``split`` (with the baselines on test), write metrics.json, the curves and the report.
    A training run's ``training`` entry also gets what evaluation and baselines cost, beside
    ``train_seconds``, so a benchmark shows how much of its time went outside training."""
    started = time.time()
    result = task.evaluate(model, config, prepared, split, run)
    evaluate_seconds = time.time() - started
    try:
        doc = read_json(run.metrics_path) if run.metrics_path.exists() else {}
    except UserError:
        warn(f"{run.metrics_path} was damaged; writing it anew from this evaluation")
        doc = {}
    doc[split] = result
    started = time.time()
    if split == "test":
        doc["baselines"] = task.baselines(config, prepared, split)
    if training is not None:
        doc["training"] = {**training, "evaluate_seconds": round(evaluate_seconds, 1),
                           "baselines_seconds": round(time.time() - started, 1)}
    atomic_write_json(run.metrics_path, doc)
    save_learning_curves(run.history_path, run.plots_dir / "learning_curves.png")
    write_report(run, task, config, prepared.info, doc)
    return doc


def evaluate(task, run_dir, split="test"):
    run, config, state, model = load_run(task, run_dir)
    seed_everything(config.seed, config.train.deterministic)
    prepared = task.prepare(config, state)
    return run, _evaluate_and_report(task, model, config, prepared, run, split)


def export(task, run_dir):
    run, config, state, model = load_run(task, run_dir)
    prepared = task.prepare(config, state)
    _export_with_card(task, model, config, prepared, run)
    return run


def predict(task, run_dir, input_path, output_path):
    run = RunFolder(run_dir)
    run.require(run.config_path, run.state_path)
    run.require(run.export_dir / "saved_model.pb", hint=f"export it first: python -m tasks.{task.name} export "
                                                        f"--run-dir {run.path}")
    output_path = Path(output_path)
    if output_path.is_dir():
        raise UserError(f"--output {output_path} is a folder; give a file name, e.g. {output_path / 'predictions.csv'}")
    config = load_config(task, run.config_path, saved_run=True)
    state = read_json(run.state_path)
    serve = load_serving(run.export_dir)
    input_path = Path(input_path)
    if not input_path.is_file():
        raise UserError(f"input file not found: {input_path}" if not input_path.exists()
                        else f"--input {input_path} is a folder; give the file to predict on")
    return task.predict_file(serve, config, state, input_path, output_path)
