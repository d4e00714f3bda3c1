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

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError, UserError
from common.export import load_serving
from common.io import read_json
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
            self._serve = load_serving(self.folder.export_dir)
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
        tensors = {name: tf.constant(np.asarray(value), dtype=specs[name].dtype) for name, value in named.items()}
        out = {}
        for name, value in self._serve(**tensors).items():
            array = value.numpy()
            out[name] = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array) \
                if array.dtype == object else array
        return out

    def predict_file(self, input_path, output_path) -> dict:
        """The CLI's ``predict``: a user file in, a predictions file out; returns the summary."""
        return lifecycle.predict(self.task, self.path, input_path, output_path)

    def __repr__(self):
        return f"Run({self.task.name!r}, {str(self.path)!r})"


def _raw_config(task, config) -> dict:
    if config is None:
        return cfg.load_yaml(task.demo_config_path)
    if isinstance(config, (str, Path)):
        return cfg.load_yaml(config)
    if isinstance(config, dict):
        return {k: v for k, v in config.items()}
    raise ConfigError(f"config must be a YAML path, a mapping or None, got {type(config).__name__}")


def _data_overrides(task, data, folder: Path) -> dict:
    """``data.*`` keys for paths or in-memory tables (written into ``folder`` in the task's format)."""
    if data is None:
        return {}
    if isinstance(data, dict):
        unknown = set(data) - {"path", *SPLITS}
        if unknown:
            raise ConfigError(f"data: unknown split(s) {sorted(unknown)}; use path or {', '.join(SPLITS)}")
        items = data
    else:
        items = {"path": data}
    overrides = {}
    for split, value in items.items():
        if isinstance(value, (str, Path)):
            overrides[f"data.{split}"] = str(value)
        else:
            folder.mkdir(parents=True, exist_ok=True)
            overrides[f"data.{split}"] = str(task.write_data(value, folder / split))
    return overrides


def train(task, config: Any = None, *, data=None, set: dict | None = None, run_dir=None,
          overwrite: bool = False) -> Run:
    """Fit, evaluate on the test split and export, exactly as ``python -m tasks.<task> train``.

    ``config``: a YAML path, a mapping shaped like the YAML, or None (the demo config).
    ``data``: a path or table for ``data.path``, or a mapping of ``path``/``train``/``val``/``test``
    to paths or tables. ``set``: dotted keys, e.g. ``{"train.epochs": 3}``.
    """
    config_arg, raw = config, _raw_config(task, config)
    for key, value in (set or {}).items():
        cfg.apply_override(raw, key.split("."), value)
    name = raw.get("name", "default")
    folder = RunFolder(run_dir) if run_dir else RunFolder.default(task.name, str(name))
    if folder.is_finished() and not folder.is_interrupted():
        if not overwrite:
            raise UserError(f"{folder.path} already holds a finished run; pass overwrite=True or another run_dir")
        shutil.rmtree(folder.path)
    for key, value in _data_overrides(task, data, folder.path / "data").items():
        cfg.apply_override(raw, key.split("."), value)
    given = {*data} if isinstance(data, dict) else ({"path"} if data is not None else frozenset())
    if given and isinstance(raw.get("data"), dict):
        # Data passed here replaces the config's files: split files drop its single file and vice versa.
        replaced = {*SPLITS} if "path" in given else {"path"} if given >= {*SPLITS} else frozenset()
        for key in replaced - given:
            raw["data"].pop(key, None)
    raw.setdefault("task", task.name)
    config = cfg.from_dict(task.config_class, raw)
    if config_arg is None and data is None:
        lifecycle.with_demo_data(task, config, log=lambda *_: None)
    run, _ = lifecycle.train(task, config, folder.path, log=lambda *_: None)
    return Run(task, run.path)


def load(task, run_dir) -> Run:
    """A finished run folder (as ``train`` left it) for evaluate / export / predict."""
    folder = RunFolder(run_dir)
    folder.require(folder.config_path, folder.metrics_path)
    return Run(task, folder.path)


class TaskAPI:
    """``train`` and ``load`` bound to one task, for ``from tasks import sentiment; sentiment.train(...)``."""

    def __init__(self, task):
        self.task = task

    def train(self, config: Any = None, *, data=None, set: dict | None = None, run_dir=None,
              overwrite: bool = False) -> Run:
        return train(self.task, config, data=data, set=set, run_dir=run_dir, overwrite=overwrite)

    def load(self, run_dir) -> Run:
        return load(self.task, run_dir)

    train.__doc__ = globals()["train"].__doc__
    load.__doc__ = globals()["load"].__doc__
