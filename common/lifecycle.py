"""The lifecycle every task shares: train, evaluate, export, predict (tune lives in common.tuning).

Each function takes a `Task` and works only through its hooks, so a new task
gets the run folder, resumption, atomic artifacts and reports by registering.
"""
from __future__ import annotations

import contextlib
import copy
import glob
import hashlib
import json
import math
import os
import re
import time
import zipfile
from collections import Counter
from pathlib import Path

import keras

from common import config as cfg
from common.data.datasets import as_list, is_pattern
from common.errors import ConfigError, UserError, warn
from common.export import load_serving, write_export
from common.io import atomic_path, atomic_write_json, atomic_write_text, check_writable, read_json
from common.model_card import write_model_card
from common.plots import save_learning_curves
from common.precision import policy_scope
from common.registry import TASK_MODULES
from common.report import write_report
from common.run import RunFolder
from common.training import compile_model, fit, seed_everything, split_cpu, strategy_for


def load_config(task, path=None, overrides=(), saved_run=False):
    """Read a YAML config (or the task's demo config), apply ``--set`` overrides and validate.

    ``saved_run``: the config.yaml of a run folder, whose renamed keys are carried over and whose settings
    must be those train recorded the digest of (`_check_config_digest`)."""
    raw = cfg.load_yaml(path) if path is not None else {}
    written = copy.deepcopy(raw) if saved_run else raw  # the file's own settings, for its digest
    if saved_run:
        raw = cfg.migrate_renamed(task.config_class, raw)
    raw.setdefault("task", task.name)
    other = raw.get("task")
    if other != task.name:
        known = isinstance(other, str) and other in TASK_MODULES
        raise ConfigError(f"{path}: this config is for task {cfg.shown(other)}, not '{task.name}'; "
                          + (f"use `python -m tasks.{other}`" if known else
                             f"set task to one of {', '.join(TASK_MODULES)}"))
    for item in overrides:
        keys, value = cfg.parse_override(item)
        cfg.apply_override(raw, keys, value)
    config = cfg.from_dict(task.config_class, raw)
    if saved_run and path is not None:
        _check_config_digest(Path(path), written)  # after validation: a broken file keeps its own message
    config.__dict__[_SOURCE] = Path(path) if path is not None else None  # train refuses to overwrite it
    return config


_SOURCE = "_rnnsuite_source"
# Where the data lives, not what was trained: a run folder moved to another machine (or data moved) is
# pointed at its files again by editing these, so they are left out of the config's digest.
_DATA_LOCATIONS = ("path", "train", "val", "test")


def _config_digest(raw: dict) -> str:
    """sha256 of a run's config.yaml as parsed (comments, layout and key order do not count; every setting
    but the data locations does). Taken from the file itself, not from the validated config: keys a later
    version adds with defaults must not make an untouched run look edited."""
    def canonical(value):
        if isinstance(value, dict):
            return {repr(key): canonical(item) for key, item in value.items()}
        if isinstance(value, list):
            return [canonical(item) for item in value]
        return value

    raw = dict(raw)
    if isinstance(raw.get("data"), dict):
        raw["data"] = {k: v for k, v in raw["data"].items() if k not in _DATA_LOCATIONS}
    text = json.dumps(canonical(raw), sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_config_digest(run) -> None:
    """Record what train wrote as config.yaml (read back, so the digest is of the file evaluate and export
    will read): a later edit would make them load a trained model with settings it was not trained with."""
    atomic_write_text(run.config_digest_path, _config_digest(cfg.load_yaml(run.config_path)) + "\n")


def _check_config_digest(config_path: Path, raw: dict) -> None:
    """Refuse a run's config.yaml edited since train recorded its digest: evaluate, export and predict
    would otherwise rebuild the data pipeline, decoding or export with settings the model was not trained
    with, and report or serve the mix without a word. A run from before the digest (or one whose record
    is lost or unreadable, as for state.schema.json) has nothing to compare."""
    run = RunFolder(config_path.parent)
    try:
        recorded = run.config_digest_path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return
    if not re.fullmatch(r"[0-9a-f]{64}", recorded) or _config_digest(raw) == recorded:
        return
    raise UserError(f"{config_path} changed since the run was trained (its settings differ from those "
                    f"recorded in {run.config_digest_path}); restore the file the run was trained with, or "
                    f"train the new settings from a copy outside the run folder: train --config <copy> "
                    f"--overwrite --run-dir {run.path}")


def _load_saved_config(task, run):
    """A run folder's config.yaml; a damaged one names the file and the fix (a foreign run's says which
    task's command reads it)."""
    try:
        return load_config(task, run.config_path, saved_run=True)
    except ConfigError as exc:
        message = str(exc)
        if "this config is for task" in message:
            raise
        if not message.startswith(str(run.config_path)):
            message = f"{run.config_path}: {message}"
        raise ConfigError(f"{message}; restore it, or re-train: train --overwrite --run-dir "
                          f"{run.path}") from None


def _data_paths(data) -> list[str]:
    """Every path and pattern the data keys name (a key may hold a list of them)."""
    return [p for value in (data.path, data.train, data.val, data.test) if value for p in as_list(value)]


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
    keys = {}
    for key in ("path", "train", "val", "test"):
        value = getattr(config.data, key)
        if value:
            absolute = [_absolute_data_path(item) for item in as_list(value)]
            if absolute != as_list(value):
                keys[f"data.{key}"] = absolute[0] if isinstance(value, str) else absolute
    return cfg.with_values(config, keys) if keys else config


def _absolute_data_path(item: str) -> str:
    """A relative path (or glob) that names files in the working directory, made absolute."""
    if Path(item).is_absolute() or "{" in item:
        return item
    if Path(item).exists():
        return str(Path(item).resolve())
    if is_pattern(item) and any(Path(p).is_file() for p in glob.glob(item, recursive=True)):
        return os.path.abspath(item)
    return item


def run_folder(task, config, run_dir=None) -> RunFolder:
    return RunFolder(run_dir) if run_dir else RunFolder.default(task.name, config.name)


def load_run(task, run_dir):
    """Config, fitted state and trained model of a finished run."""
    run = RunFolder(run_dir)
    run.require(run.config_path, run.state_path, run.model_path)
    config = _load_saved_config(task, run)
    state = read_state(run)
    return run, config, state, _load_model(run, config.train.precision)


def _load_model(run, precision="float32"):
    """model.keras, refused with one line when it is damaged or is not the model this run trained.

    Loaded under the run's ``train.precision``: each layer's policy is in the archive, but the sublayers a
    layer makes in its constructor take the global one, and must compute in the dtype they trained in."""
    damaged = (f"{run.model_path} is damaged (%s); restore it, or re-train: train --overwrite "
               f"--run-dir {run.path}")
    if not zipfile.is_zipfile(run.model_path):  # Keras would call it "not found"
        raise UserError(damaged % "not a Keras archive: not a zip file")
    try:
        with policy_scope(precision):
            model = keras.saving.load_model(str(run.model_path), compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras reports a damaged archive as anything from ValueError on
        raise UserError(damaged % (cfg.shown_message(str(exc).strip().splitlines()[0]) if str(exc).strip()
                                   else type(exc).__name__)) from None
    _check_model_record(run, model)
    return model


def _model_record(model) -> dict:
    """What tells a trained model from another cheaply: its parameter count and weight shapes."""
    return {"parameters": int(model.count_params()),
            "weights": [[int(d) for d in weight.shape] for weight in model.weights]}


def _check_model_record(run, model) -> None:
    """A model.keras copied from another run (other sizes, another vocabulary, another task) loads without
    complaint and then fails deep in Keras or gives wrong outputs: its weight shapes are compared with
    those train recorded beside it. A run from before the record (or one whose record is lost or
    unreadable, as for state.schema.json) has nothing to compare."""
    try:
        wrote = json.loads(run.model_schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not (isinstance(wrote, dict) and isinstance(wrote.get("parameters"), int)
            and isinstance(wrote.get("weights"), list)):
        return
    found = _model_record(model)
    shapes = [Counter(map(tuple, record["weights"])) for record in (found, wrote)]
    if found["parameters"] == wrote["parameters"] and shapes[0] == shapes[1]:
        return
    if found["parameters"] != wrote["parameters"] or len(found["weights"]) != len(wrote["weights"]):
        detail = (f"it has {found['parameters']} parameters in {len(found['weights'])} weights, the model "
                  f"this run trained had {wrote['parameters']} in {len(wrote['weights'])}")
    else:
        extra, missing = next(iter(shapes[0] - shapes[1])), next(iter(shapes[1] - shapes[0]))
        detail = (f"it has a weight of shape {list(extra)} where the model this run trained had "
                  f"{list(missing)}")
    raise UserError(f"{run.model_path} is not the model this run trained ({detail}: copied from another "
                    f"run?); restore the run's own model.keras, or re-train: train --overwrite --run-dir "
                    f"{run.path}")


def _shape(value):
    """The JSON shape of a value: object keys with their shapes, an array's distinct element shapes."""
    if isinstance(value, dict):
        return {"object": {str(k): _shape(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"array": sorted({json.dumps(_shape(v), sort_keys=True) for v in value})}
    return {bool: "boolean", str: "string", type(None): "null"}.get(type(value), "number")


def _shape_difference(found, wrote, where=""):
    """Where ``found`` differs from the shape train wrote, in words; None when they agree."""
    if found == wrote:
        return None
    if isinstance(found, dict) and isinstance(wrote, dict) and "object" in found and "object" in wrote:
        for key in wrote["object"]:
            if key not in found["object"]:
                return f"the key {where}{key!r} is missing"
        for key in found["object"]:
            if key not in wrote["object"]:
                return f"the key {where}{cfg.shown(key)} is not one train wrote"
            differs = _shape_difference(found["object"][key], wrote["object"][key], f"{where}{key!r} > ")
            if differs:
                return differs
    label = where.rstrip("> ").strip() or "the top level"
    found, wrote = _kind(found), _kind(wrote)
    if found == wrote == "an array":
        return f"{label} holds other kinds of items than train wrote"
    return f"{label} is {found}, train wrote {wrote}"


def _kind(shape) -> str:
    name = next(iter(shape)) if isinstance(shape, dict) else shape
    return f"{'an' if name[0] in 'ao' else 'a'} {name}"


def read_state(run) -> dict:
    """state.json, checked against the shape train recorded beside it: a list, other keys or values of
    other types would otherwise surface as a KeyError deep in a task's code."""
    state = read_json(run.state_path)
    fix = f"restore it, or re-train: train --overwrite --run-dir {run.path}"
    if not isinstance(state, dict):
        kind = type(state).__name__
        raise UserError(f"{run.state_path} is damaged (it holds a JSON {kind}, not the object train "
                        f"writes); {fix}")
    try:
        wrote = json.loads(run.state_schema_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return state  # a run from before shapes were recorded (or its record lost): nothing to compare
    differs = _shape_difference(_shape(state), wrote)
    if differs:
        raise UserError(f"{run.state_path} is damaged ({differs}); {fix}")
    return state


def _write_state(run, state) -> None:
    atomic_write_json(run.state_path, state)
    atomic_write_json(run.state_schema_path, _shape(state))


def _check_inputs_outside(run, config) -> None:
    """train replaces what a run folder holds: an input among those files would be overwritten."""
    inputs = [("data file", p) for p in _data_paths(config.data) if "{" not in p]
    source = config.__dict__.get(_SOURCE)
    if source is not None:
        inputs.append(("--config", str(source)))
    for what, path in inputs:
        if run.owns(path):
            raise UserError(f"{what} {path} is inside the run folder {run.path}, whose files train "
                            "would overwrite; move it out of the run folder or give another --run-dir")


def train(task, config, run_dir=None, overwrite=False, log=print):
    """Fit, evaluate on the test split, export; a rerun in the same folder picks up where a run stopped.

    The data is read and validated before anything is written, so a bad file leaves no
    half-made run folder. An interrupted fit resumes from its backup; a run killed after
    its model was saved goes straight to evaluation and export.
    """
    run = run_folder(task, config, run_dir)
    run.check_writable()
    if run.is_finished() and not overwrite:
        raise UserError(f"{run.path} already holds a finished run; pass --overwrite to replace it "
                        "or --run-dir for a new folder")
    continuing = run.holds_progress() and not overwrite  # --overwrite starts an unfinished run afresh
    resuming = continuing and run.is_interrupted()
    trained_before = continuing and not resuming  # killed after its model was saved
    _check_inputs_outside(run, config)
    config = task.with_run_folder(with_absolute_data_paths(config), run.path)
    split_cpu(config.train.cpu_replicas)
    strategy = strategy_for(config.train.distribution)  # before any op: multi-worker needs a fresh runtime
    seed_everything(config.seed, config.train.deterministic)
    started = time.time()
    prepared = task.prepare(config, None)
    if continuing:
        _check_continues(task, run, config, prepared.state)  # before anything in the folder is rewritten
    elif run.path.exists():
        run.clear()  # a finished run being replaced, or leftovers of one that died before its first epoch
    made = [folder for folder in (run.path, *run.path.parents) if not folder.exists()]  # removed on failure
    run.create()
    run.failed_path.unlink(missing_ok=True)
    if not continuing:  # a continued run keeps the config.yaml and state.json it started with
        cfg.save_yaml(cfg.to_dict(config), run.config_path)
        _write_config_digest(run)
        _write_state(run, prepared.state)
    if trained_before:
        log(f"Training in {run.path} had finished; evaluating and exporting")
        model = _load_model(run, config.train.precision)
        training = read_json(run.training_path)
    else:
        if resuming:
            log(f"Resuming the interrupted run in {run.path}")
        with strategy.scope(), policy_scope(config.train.precision):
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
        calibration = task.calibrate(model, config, prepared)
        training = {"best_epoch": (best.best_epoch + 1) if best.best_epoch is not None else None,
                    "best_" + best.monitor: best.best, "train_seconds": round(time.time() - started, 1),
                    "parameters": int(model.count_params()), "replicas": int(strategy.num_replicas_in_sync)}
        if calibration:
            training["calibration"] = calibration
        atomic_write_json(run.training_path, training)
        atomic_write_json(run.model_schema_path, _model_record(model))  # what model.keras is checked against
        with atomic_path(run.model_path) as tmp:
            model.save(str(tmp))
    metrics = _evaluate_and_report(task, model, config, prepared, run, "test", training=training)
    _export_with_card(task, model, config, prepared, run)
    return run, metrics


# Keys that change what a run prints or logs, not what it computes: a rerun may change them.
_CONTINUE_WITH_ANY = ("train.verbose", "train.tensorboard")
_SHOWN_CHANGES = 5


def _check_continues(task, run, config, state) -> None:
    """An unfinished run continues only with the config and data it started with: resuming another
    model's backup fails half-way (or, for a learning rate or an epoch count, silently trains a mix of
    two runs), and a trained model evaluated on other data reports wrong metrics. Checked after the data
    was read and before anything in the run folder is written, so a refusal leaves it as it was."""
    fix = f"or pass --overwrite to start afresh in {run.path}"
    if not run.config_path.is_file():
        raise UserError(f"{run.config_path} is missing, so the unfinished run in {run.path} cannot be "
                        f"continued; restore it, {fix}")
    saved = _load_saved_config(task, run)
    changed = [key for key in cfg.differences(saved, config) if key not in _CONTINUE_WITH_ANY]
    if changed:
        shown = "; ".join(f"{key} was {cfg.shown(cfg.get_path(saved, key))}, now "
                          f"{cfg.shown(cfg.get_path(config, key))}" for key in changed[:_SHOWN_CHANGES])
        more = f" (and {len(changed) - _SHOWN_CHANGES} more)" if len(changed) > _SHOWN_CHANGES else ""
        raise UserError(f"{run.path} holds an unfinished run that started with other settings ({shown}"
                        f"{more}); rerun with the settings in {run.config_path} to continue it, {fix}")
    saved_state = read_state(run)
    canonical = lambda value: json.dumps(value, sort_keys=True, default=lambda v: v.tolist())  # noqa: E731
    differ = [key for key in sorted({*saved_state, *state})
              if canonical(saved_state.get(key)) != canonical(state.get(key))]
    if differ:
        keys = ", ".join(map(cfg.shown, differ[:_SHOWN_CHANGES]))
        raise UserError(f"{run.path} holds an unfinished run that started on other data: what train fits on "
                        f"it differs from {run.state_path} ({keys}); rerun with the data it started with to "
                        f"continue it, {fix}")


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
        doc = None
    if not isinstance(doc, dict):  # truncated, or valid JSON of another shape: this evaluation replaces it
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


def _check_writes(run, *paths) -> None:
    """Before any work: the run folder takes new files and none of ``paths`` is a folder."""
    run.check_writable()
    for path in paths:
        if path.is_dir():
            raise UserError(f"{path} is a folder, not a file: {run.path} is damaged; remove it, then rerun")


def evaluate(task, run_dir, split="test"):
    run, config, state, model = load_run(task, run_dir)
    _check_writes(run, run.metrics_path, run.report_path)
    seed_everything(config.seed, config.train.deterministic)
    with reading_state(run, state):
        prepared = task.prepare(config, state)
    return run, _evaluate_and_report(task, model, config, prepared, run, split)


def export(task, run_dir):
    run, config, state, model = load_run(task, run_dir)
    _check_writes(run)
    with reading_state(run, state):
        prepared = task.prepare(config, state)
    _export_with_card(task, model, config, prepared, run)
    return run


@contextlib.contextmanager
def reading_state(run, state):
    """A key of state.json a task reads but the file lacks, as one line naming the file. read_state
    compares the file with the shape train recorded; a run whose record is gone (or from before it)
    reaches the task's code unchecked, which would end in a KeyError traceback."""
    try:
        yield
    except KeyError as exc:
        key = exc.args[0] if exc.args else None
        if not (isinstance(key, str) and key not in state):
            raise
        raise UserError(f"{run.state_path} is damaged (the key {cfg.shown(key)} is missing); restore it, or "
                        f"re-train: train --overwrite --run-dir {run.path}") from None


def _check_output_is_not_data(config, output_path) -> None:
    """--output must not be one of the run's data files: predicting would destroy what evaluate reads."""
    target = os.path.realpath(output_path)
    for item in _data_paths(config.data):
        for path in (glob.glob(item, recursive=True) if is_pattern(item) else [item]):
            if os.path.realpath(path) == target:
                raise UserError(f"--output {output_path} is the run's data file {item} (config.yaml data); "
                                "predicting would overwrite it: give another --output")


def check_output(run, input_path, output_path) -> None:
    """Refuse, before anything is loaded or written, an --output that would overwrite an input (the
    --input itself, a file of the run folder) or that cannot be written (a folder, a device such as
    /dev/full, a path under a file or in a read-only or virtual folder, a name too long to create)."""
    check_writable(output_path, "--output")  # first: a name too long makes even a stat fail
    if output_path.is_dir():
        raise UserError(f"--output {output_path} is a folder; give a file name, e.g. "
                        f"{output_path / 'predictions.csv'}")
    same = output_path.exists() and os.path.exists(input_path) and output_path.samefile(input_path)
    if same or output_path.resolve() == input_path.resolve():
        raise UserError(f"--output {output_path} is the --input file; predicting would overwrite the input: "
                        "give another --output")
    if run.owns(output_path.resolve()) or run.owns(output_path):
        raise UserError(f"--output {output_path} is inside the run folder {run.path}: predicting would "
                        "overwrite the run's files; give a path outside it")


def predict(task, run_dir, input_path, output_path):
    run = RunFolder(run_dir)
    input_path, output_path = Path(input_path), Path(output_path)
    outputs = task.predict_outputs(output_path)
    for path in outputs:
        check_output(run, input_path, path)
    run.require(run.config_path, run.state_path)
    config = _load_saved_config(task, run)
    for path in outputs:
        _check_output_is_not_data(config, path)
    run.require(run.export_dir / "saved_model.pb", hint=f"export it first: python -m tasks.{task.name} export "
                                                        f"--run-dir {run.path}")
    state = read_state(run)
    if not os.path.isfile(input_path):  # os.path: a name too long for the file system is "not found"
        kind = "a folder" if os.path.isdir(input_path) else "not a regular file (a device, pipe or socket)"
        raise UserError(f"input file not found: {input_path}" if not os.path.exists(input_path)
                        else f"--input {input_path} is {kind}; give the file to predict on")
    serve = load_serving(run.export_dir)
    with reading_state(run, state):
        return task.predict_file(serve, config, state, input_path, output_path)
