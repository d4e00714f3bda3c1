"""The Python entry point: the CLI's lifecycle for notebooks and scripts.

    from tasks import sentiment

    run = sentiment.train({"train": {"epochs": 3}}, data={"train": train_df, "val": val_df, "test": test_df})
    run.metrics["test"]["accuracy"]
    run.predict(["a wonderful film", "dull and long"])["label"]

``train`` takes a config (a YAML file, a mapping shaped like one, or None for
the task's demo config), ``set`` overrides as the CLI's ``--set`` takes them,
and data as file paths or in-memory tables (pandas DataFrames or lists of
records), which are written into the run folder in a format the task reads.
The CLI is a thin layer over the same `common.lifecycle` functions.
"""
from __future__ import annotations

import copy
import filecmp
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError, UserError
from common.export import load_serving
from common.io import atomic_path, read_json
from common.run import RunFolder

SPLITS = ("train", "val", "test")


class Run:
    """A trained run folder: its config and metrics, and evaluate / export / predict on it."""

    def __init__(self, task, path):
        self.task = task
        self.folder = RunFolder(path)
        self._serve = None

    path = property(lambda self: self.folder.path)

    @property
    def config(self):
        return lifecycle.load_config(self.task, self.folder.config_path, saved_run=True)

    @property
    def metrics(self) -> dict:
        """``metrics.json``: ``test`` (and ``val`` once evaluated), ``baselines`` and ``training``."""
        return read_json(self.folder.metrics_path)

    def evaluate(self, split: str = "test") -> dict:
        """Re-evaluate on ``split`` (``test`` or ``val``); refreshes metrics.json and report.md."""
        if split not in ("test", "val"):
            raise UserError(f"evaluate: split must be 'test' or 'val', got {cfg.shown(split)}")
        _, doc = lifecycle.evaluate(self.task, self.path, split)
        return doc[split]

    def export(self) -> Path:
        """(Re)write the SavedModel; returns its folder."""
        lifecycle.export(self.task, self.path)
        self._serve = None
        return self.folder.export_dir

    def predict(self, inputs=None, **named) -> dict[str, np.ndarray]:
        """Outputs of the exported ``serving_default`` for raw inputs, as numpy arrays (strings decoded).

        Pass the signature's inputs by name (``text=[...]``), or one array-like positionally when the
        signature has a single input.
        """
        if self._serve is None:
            serve = load_serving(self.folder.export_dir)
            self.folder.check_export_is_own()
            self._serve = serve
        specs = self._serve.structured_input_signature[1]
        if inputs is not None:
            if named or len(specs) != 1:
                raise UserError(f"pass the inputs by name: {', '.join(sorted(specs))}")
            named = {next(iter(specs)): inputs}
        missing = sorted(set(specs) - set(named))
        unknown = sorted(set(named) - set(specs))
        if missing or unknown:
            raise UserError(f"serving_default takes {', '.join(sorted(specs))}; missing {missing}, "
                            f"unknown {unknown}")
        tensors = {name: _input_tensor(name, value, specs[name]) for name, value in named.items()}
        out = {}
        try:
            outputs = self._serve(**tensors)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:  # values the graph refuses
            problem = cfg.shown_message(str(exc).split("\n")[0])
            raise UserError(f"serving_default refused the inputs: {problem}") from None
        for name, value in outputs.items():
            array = value.numpy()
            out[name] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array) \
                if array.dtype == object else array
        return out

    def predict_file(self, input_path, output_path) -> dict:
        """The CLI's ``predict``: a user file in, a predictions file out; returns the summary."""
        return lifecycle.predict(self.task, self.path, input_path, output_path)

    def __repr__(self):
        return f"Run({self.task.name!r}, {str(self.path)!r})"


def _input_tensor(name: str, value, spec) -> tf.Tensor:
    """One named input as the signature's dtype and shape, or one line saying what it expects: a
    traceback from deep inside TensorFlow does not tell a notebook user which argument was wrong."""
    rank = len(spec.shape)
    dims = ", ".join("batch" if d is None else str(d) for d in spec.shape)
    expected = f"{spec.dtype.name} of shape [{dims}]"
    if isinstance(value, (str, bytes)) and rank > 0:
        raise UserError(f"predict input '{name}': expected a batch ({expected}), got one value "
                        f"{cfg.shown(value)}; pass a list, e.g. [{cfg.shown(value)}]")
    try:
        array = np.asarray(value, dtype=object if spec.dtype == tf.string else None)
        if spec.dtype == tf.string:
            if not all(isinstance(v, (str, bytes)) for v in array.flat):
                bad = next(v for v in array.flat if not isinstance(v, (str, bytes)))
                raise TypeError(f"{cfg.shown(bad)} is not a string")
        elif array.dtype == object or array.dtype.kind in "SUMm":
            raise TypeError(f"{_first(array, lambda v: not _is_number(v))}, not a number")
        elif spec.dtype != tf.bool and (array.dtype.kind == "b" or isinstance(value, (list, tuple))):
            # numpy reads True as 1 (and [1.5, True] as [1.5, 1.0]): a mask or a flag passed by mistake would
            # silently become data, where the server answers `true` for a number with a 400
            flagged = _first(array if array.dtype.kind == "b" else np.asarray(value, dtype=object), _is_bool)
            if flagged:
                raise TypeError(f"{flagged}, not a number (true/false is not read as 1/0)")
    except (TypeError, ValueError) as exc:  # ragged lists, strings for numbers, numbers for text
        raise UserError(f"predict input '{name}': expected {expected}: {exc}") from None
    if array.ndim != rank or any(d is not None and d != n for d, n in zip(spec.shape, array.shape)):
        raise UserError(f"predict input '{name}': expected {expected}, got shape {list(array.shape)}")
    if array.size == 0 and rank > 0 and array.shape[0] == 0:
        raise UserError(f"predict input '{name}' is an empty batch; pass at least one example")
    if spec.dtype.is_floating:  # the server answers 400; a NaN here would come back as NaN outputs
        with np.errstate(over="ignore"):
            finite = np.isfinite(array.astype(spec.dtype.as_numpy_dtype))
        if not finite.all():
            at = [int(i) for i in np.argwhere(~finite)[0]]
            value = cfg.shown(array[tuple(at)].item())
            raise UserError(f"predict input '{name}': the value at {at} is {value}, not a finite "
                            f"{spec.dtype.name} (NaN, inf or past its range); pass finite numbers")
    try:
        return tf.constant(array, dtype=spec.dtype)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. 1e40 for float32 is inf, 2**40 for int32
        raise UserError(f"predict input '{name}': expected {expected}: {cfg.shown_message(exc)}") from None


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not _is_bool(value)


def _first(array: np.ndarray, bad) -> str | None:
    """Where the first item that ``bad`` picks is, and what it is: the message quotes that one value, not
    the whole input (a numpy array's repr spans lines)."""
    for index, item in enumerate(array.flat):
        if bad(item):
            at = [int(i) for i in np.unravel_index(index, array.shape)]
            return f"the value at {at} is {cfg.shown(item.item() if isinstance(item, np.generic) else item)}"
    return None


def _plain(value):
    """A copy of a config value as YAML would give it: numpy scalars and arrays become Python numbers and
    lists, paths strings; the caller's own mappings are never changed by the overrides applied later."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _raw_config(task, config) -> dict:
    if config is None:
        return cfg.load_yaml(task.demo_config_path)
    if isinstance(config, (str, Path)):
        return cfg.load_yaml(config)
    if isinstance(config, Mapping):
        return _plain(config)
    raise ConfigError(f"config must be a YAML path, a mapping or None, got {type(config).__name__}")


def _overrides(set) -> list[tuple[list[str], Any]]:
    """``set`` as (key path, value) pairs: a mapping of dotted keys, or the CLI's ``key=value`` strings."""
    if set is None:
        return []
    if isinstance(set, Mapping):
        pairs = list(set.items())
        for key, _ in pairs:
            if not isinstance(key, str) or "" in key.split("."):
                raise ConfigError(f"set: key {cfg.shown(key)} is not a dotted config key such as "
                                  "'train.epochs'")
        return [(key.split("."), _plain(value)) for key, value in pairs]
    if isinstance(set, (list, tuple)) and all(isinstance(item, str) for item in set):
        return [cfg.parse_override(item) for item in set]  # the last of a key given twice wins, as in the CLI
    raise ConfigError(f"set must be a mapping of dotted keys to values (e.g. {{'train.epochs': 3}}) or a "
                      f"list of 'key=value' strings, got {type(set).__name__}")


def _is_table(value) -> bool:
    return hasattr(value, "to_csv") or isinstance(value, (list, tuple))


def _check_data(data) -> dict:
    """``data`` as {split: path or table}, checked before anything is written."""
    if data is None:
        return {}
    items = dict(data) if isinstance(data, Mapping) else {"path": data}
    unknown = [key for key in items if key not in ("path", *SPLITS)]
    if unknown:
        raise ConfigError(f"data: unknown split(s) {cfg.shown(unknown)}; use path or {', '.join(SPLITS)}")
    for split, value in items.items():
        if isinstance(value, (str, Path)):
            if not str(value).strip():
                raise ConfigError(f"data[{split!r}]: the path is empty")
        elif not _is_table(value):
            raise ConfigError(f"data[{split!r}]: expected a file path, a pandas DataFrame or a list of "
                              f"records, got {type(value).__name__}")
        elif len(value) == 0:
            raise ConfigError(f"data[{split!r}] is an empty table; pass at least one example")
        elif isinstance(value, (list, tuple)):
            bad = next((i for i, row in enumerate(value) if not isinstance(row, (Mapping, list, tuple, str))),
                       None)
            if bad is None:
                continue
            raise ConfigError(f"data[{split!r}][{bad}]: expected a record (a dict, or a list/tuple of "
                              f"columns) or a line of text, got {cfg.shown(value[bad])}")
    return items


def _write_tables(task, items: dict, folder: RunFolder, overwrite: bool, written: list[Path]) -> dict:
    """``data.*`` keys for the paths and in-memory tables of ``items``; tables go into ``<run>/data/``
    in the task's format (each file placed there is added to ``written``).

    Every table is written to a scratch folder first: a table the task cannot write leaves nothing in
    the run folder, and an unfinished run (which continues only on the data it started with) keeps
    its tables unless the same ones are passed again; ``overwrite`` replaces them."""
    paths = {split: value for split, value in items.items() if isinstance(value, (str, Path))}
    overrides = {f"data.{split}": str(value) for split, value in paths.items()}
    tables = {split: value for split, value in items.items() if split not in paths}
    if not tables:
        return overrides
    with tempfile.TemporaryDirectory(prefix="rnnsuite-data.") as scratch:
        made = {}
        for split, value in tables.items():
            try:
                made[split] = Path(task.write_data(value, Path(scratch) / split))
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # rows of bad shapes
                raise ConfigError(f"data[{split!r}] cannot be written as {task.name} data "
                                  f"({type(exc).__name__}: {cfg.shown_message(exc)})") from None
        places = {split: folder.path / "data" / path.name for split, path in made.items()}
        new = [split for split, path in made.items()
               if not (places[split].is_file() and filecmp.cmp(path, places[split], shallow=False))]
        if new and folder.holds_progress() and not overwrite:
            place = places[new[0]]
            raise UserError(f"data[{new[0]!r}] is not the table the unfinished run in {folder.path} started "
                            f"with ({place} {'differs' if place.exists() else 'is missing'}); pass the data "
                            "it started with to continue it, or overwrite=True to start afresh")
        for split in new:
            with atomic_path(places[split]) as tmp:
                shutil.copyfile(made[split], tmp)
            written.append(places[split])
    overrides.update({f"data.{split}": str(place.resolve()) for split, place in places.items()})
    return overrides  # resolved: the run's config.yaml works from any directory


def _with_data(raw: dict, overrides: dict, given: set) -> dict:
    """``raw`` with the data keys of ``overrides``: data passed to ``train`` replaces the config's files
    (split files drop its single file and vice versa)."""
    raw = copy.deepcopy(raw)
    for key, value in overrides.items():
        cfg.apply_override(raw, key.split("."), value, label="data")
    if given and isinstance(raw.get("data"), dict):
        replaced = {*SPLITS} if "path" in given else {"path"} if given >= {*SPLITS} else frozenset()
        for key in replaced - given:
            raw["data"].pop(key, None)
    return raw


def train(task, config: Any = None, *, data=None, set: dict | list | None = None, run_dir=None,
          overwrite: bool = False) -> Run:
    """Fit, evaluate on the test split and export, exactly as ``python -m tasks.<task> train``.

    ``config``: a YAML path, a mapping shaped like the YAML, or None (the demo config).
    ``data``: a path or table for ``data.path``, or a mapping of ``path``/``train``/``val``/``test``
    to paths or tables. ``set``: dotted keys, e.g. ``{"train.epochs": 3}``, or the CLI's ``--set``
    strings, e.g. ``["train.epochs=3"]`` (a key given twice: the last wins).

    Every argument and the config are checked before anything is written; tables go into
    ``<run>/data/``, and a run that stops on bad data leaves no files behind.
    """
    if run_dir is not None and not isinstance(run_dir, (str, Path)):
        raise UserError(f"run_dir must be a folder path, got {type(run_dir).__name__}")
    if not isinstance(overwrite, bool):  # overwrite="no" is truthy: it would delete a finished run
        raise UserError(f"overwrite must be True or False, got {cfg.shown(overwrite)}")
    config_arg, raw = config, _raw_config(task, config)
    for keys, value in _overrides(set):
        cfg.apply_override(raw, keys, value, label="set")
    raw.setdefault("task", task.name)
    items = _check_data(data)
    given = frozenset(items)
    placeholders = {f"data.{split}": str(v) if isinstance(v, (str, Path)) else f"<in-memory {split}>"
                    for split, v in items.items()}
    checked = cfg.from_dict(task.config_class, _with_data(raw, placeholders, given))  # before any write
    folder = RunFolder(run_dir) if run_dir else RunFolder.default(task.name, checked.name)
    folder.check_is_folder()
    if folder.is_finished() and not folder.is_interrupted():
        if not overwrite:
            raise UserError(f"{folder.path} already holds a finished run; pass overwrite=True or another run_dir")
        shutil.rmtree(folder.path)
    made = [p for p in (folder.path / "data", folder.path, *folder.path.parents) if not p.exists()]
    written: list[Path] = []
    try:
        tables = _write_tables(task, items, folder, overwrite, written)
        config = cfg.from_dict(task.config_class, _with_data(raw, tables, given))
        if config_arg is None and data is None:
            lifecycle.with_demo_data(task, config, log=lambda *_: None)
        run, _ = lifecycle.train(task, config, folder.path, overwrite=overwrite, log=lambda *_: None)
    except UserError:
        _remove_if_only(folder.path, written, made)
        raise
    return Run(task, run.path)


def _remove_if_only(folder: Path, written: list[Path], made: list[Path]) -> None:
    """After a failed ``train``: the tables this call wrote, and the folders it made, go again, unless
    the run folder holds anything else (an interrupted run to resume keeps its data)."""
    if not folder.is_dir():
        return
    others = [p for p in folder.rglob("*") if p.is_file() and p not in written]
    if others:
        return
    for path in written:
        path.unlink(missing_ok=True)
    for path in made:  # innermost first
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def load(task, run_dir) -> Run:
    """A finished run folder (as ``train`` left it) for evaluate / export / predict."""
    if not isinstance(run_dir, (str, Path)):
        raise UserError(f"run_dir must be a folder path, got {type(run_dir).__name__}")
    folder = RunFolder(run_dir)
    folder.require(folder.config_path, folder.metrics_path)
    return Run(task, folder.path)


class TaskAPI:
    """``train`` and ``load`` bound to one task, for ``from tasks import sentiment; sentiment.train(...)``."""

    def __init__(self, task):
        self.task = task

    def train(self, config: Any = None, *, data=None, set: dict | list | None = None, run_dir=None,
              overwrite: bool = False) -> Run:
        return train(self.task, config, data=data, set=set, run_dir=run_dir, overwrite=overwrite)

    def load(self, run_dir) -> Run:
        return load(self.task, run_dir)

    train.__doc__ = globals()["train"].__doc__
    load.__doc__ = globals()["load"].__doc__
