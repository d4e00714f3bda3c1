"""The task contract: what a task provides so that `common` can run its whole lifecycle.

A task is a small object with a name, two config sections (``data`` and
``model``) and the hooks below. `common.lifecycle` drives train / evaluate /
tune / export / predict for any task through these hooks only, and the
conformance test in ``tests/test_conformance.py`` runs every registered task
through that lifecycle.

The training graph and the serving graph may differ (a seq2seq model trained
with teacher forcing but served with a beam-search loop, a CRF tagger served
with Viterbi decoding): ``build_model`` returns what ``fit`` trains, while
``serving_functions`` returns the tf-traceable functions that are exported.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from common.config import BaseDataConfig, run_config_class
from common.errors import UserError


@dataclass(kw_only=True)
class Prepared:
    """Data ready for Keras plus the preprocessing state fitted on the training split.

    ``state`` must be JSON-serialisable: it is saved as ``state.json`` in the run
    folder and handed back to ``Task.prepare`` by evaluate/export/tune so that
    scalers and vocabularies are never refitted on other data. ``info`` holds the
    facts the report shows (sizes, columns, vocabulary); ``prepare`` writes it and
    no later hook changes it. What a task's later hooks need besides the batched
    splits (raw texts for the metrics, scaled arrays for the baselines...) goes in
    typed fields of the task's own subclass, e.g.::

        @dataclass(kw_only=True)
        class SentimentPrepared(Prepared):
            texts: dict[str, list[str]]
    """

    train: Any  # tf.data.Dataset of (inputs, targets), batched
    val: Any
    test: Any
    state: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def split(self, name: str):
        return {"train": self.train, "val": self.val, "test": self.test}[name]


@dataclass(frozen=True)
class Demo:
    """How the main job and the conformance checks exercise a task on data the project generates.

    ``make_data(folder, seed)`` writes a small synthetic dataset and returns the
    ``--set`` overrides (dotted key -> value) that point the demo config at it;
    ``predict_input(config, folder)`` writes a file in the format ``predict`` reads.
    Both live in the task's ``demo_data.py``, away from the hooks a real run uses.
    """

    make_data: Callable[[Path, int], dict]
    predict_input: Callable[[Any, Path], Path]


@dataclass
class Signature:
    """One exported serving function.

    ``fn`` takes keyword tensors named like ``input_signature``'s specs and
    returns a dict of named output tensors. ``track`` holds the TensorFlow objects ``fn`` uses besides
    the model's variables (an in-graph tokenizer's resource, a SavedModel asset): the export must carry
    them, or writing it fails on an untracked resource.
    """

    fn: Callable
    input_signature: list
    track: list = field(default_factory=list)


class Task(abc.ABC):
    """Base class of every task; subclasses fill in the hooks."""

    name: str = ""
    data_config: type = BaseDataConfig
    model_config: type = object
    default_monitor: str = "val_loss"
    description: str = ""
    demo: Demo  # every task ships demo data (the main job and the conformance checks use it)
    predict_input_help: str = "Input file (format: see the README)."  # --input's help for `predict`

    @cached_property
    def config_class(self):
        return run_config_class(self.name, self.data_config, self.model_config, self.default_monitor,
                                self.check_config, self.export_formats)

    def check_config(self, config) -> None:
        """Cross-section rules (e.g. the model's segment length must divide the data's lookback),
        checked once when the config is loaded; raise `ConfigError` naming the keys."""

    def with_run_folder(self, config, run_path: Path):
        """``config`` with the paths a recipe derives from the run folder filled in (e.g. where language
        models it trains first go), before `common.lifecycle.train` saves it as the run's config.yaml;
        this default returns ``config`` unchanged."""
        return config

    @property
    def demo_config_path(self) -> Path:
        return Path(__file__).resolve().parent.parent / "configs" / f"{self.name}.yaml"

    # ---- data -------------------------------------------------------------------------
    @abc.abstractmethod
    def prepare(self, config, state: dict | None = None) -> Prepared:
        """Load and validate the data, fit preprocessing on train (unless ``state`` is given),
        and return batched tf.data splits. Raise `DataError` naming file, line and fix."""

    def write_data(self, table, stem: Path) -> Path:
        """Write an in-memory table handed to the Python API (`common.api`) as a file this task reads,
        at ``stem`` plus a suffix; return the path. This default writes a pandas DataFrame as CSV and a
        list of dicts as JSON Lines; a task whose reader wants another layout overrides it."""
        import json

        if hasattr(table, "to_csv"):
            path = stem.with_suffix(".csv")
            table.to_csv(path, index=False)
            return path
        if isinstance(table, (list, tuple)) and table and all(isinstance(row, dict) for row in table):
            path = stem.with_suffix(".jsonl")
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in table),
                            encoding="utf-8")
            return path
        raise UserError(f"the {self.name} task takes data as a file path, a pandas DataFrame or a list of "
                        f"dicts, not {type(table).__name__}")

    # ---- model ------------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, config, prepared: Prepared):
        """Return the (uncompiled) Keras model that ``fit`` trains."""

    def compile_args(self, config, prepared: Prepared) -> dict:
        """Loss and metrics for ``model.compile`` (optimizer comes from ``config.train``)."""
        return {"loss": "mse"}

    def callbacks(self, model, config, prepared: Prepared) -> list:
        """Extra Keras callbacks, e.g. one that adds ``val_f1`` to the logs for early stopping."""
        return []

    def calibrate(self, model, config, prepared: Prepared) -> dict:
        """Fit what is fitted on the validation split once the weights are final (the best epoch's,
        reloaded), in place in ``model`` before it is saved: e.g. the weights of a blend of separately
        trained paths. Returns facts for the run's ``training`` record (``{}``: nothing fitted)."""
        return {}

    # ---- evaluation -------------------------------------------------------------------
    @abc.abstractmethod
    def evaluate(self, model, config, prepared: Prepared, split: str, run) -> dict:
        """Metrics of the trained model on ``split``; may also write predictions and plots into
        the run folder (``run`` is a `common.run.RunFolder`)."""

    def baselines(self, config, prepared: Prepared, split: str) -> dict:
        """Reference scores on the same split: ``{baseline_name: {metric: value}}``."""
        return {}

    def headline_metrics(self) -> list[str]:
        """Metric names shown first in summaries and the report."""
        return []

    # ---- export and predict -----------------------------------------------------------
    @abc.abstractmethod
    def serving_functions(self, model, config, prepared: Prepared) -> dict[str, Signature]:
        """Functions to export; ``serving_default`` is required. They must work on raw inputs
        (original units, raw strings) so the SavedModel needs no project code."""

    def serving_example(self, config, prepared: Prepared) -> dict | None:
        """A small batch of numpy inputs for ``serving_default``: the model card shows it as an example
        request and the conformance checks replay it in a fresh process (None: no example)."""
        return None

    @abc.abstractmethod
    def reference_outputs(self, model, config, prepared: Prepared) -> dict[str, tuple[dict, dict]]:
        """What exported signatures must return, computed without the serving graph:
        ``{signature: (inputs, expected outputs)}``, from the Keras ``model`` plus the task's own Python
        preprocessing and postprocessing (the path ``evaluate`` takes: the saved scaler in numpy, the
        label and tag lists of ``state``, decoding step by step through the training model).

        The conformance checks serve ``inputs`` from the SavedModel in a fresh process and compare each
        output named here. A serving function compared only with itself run in-process cannot show a
        lost unscaling or a shuffled label table; this independent answer can. Cover at least the
        outputs a client reads (a sampling signature that no second path can reproduce may be left
        out in favour of its deterministic sibling)."""

    def export_formats(self, config) -> dict[str, str | None]:
        """The formats beyond the SavedModel (``onnx``, ``litert``) that ``config``'s model can be written
        in: format -> None when it can, else a short reason (a format left out: not implemented for the
        task). ``export.formats`` is checked against it when the config is loaded. This default asks the
        task package's ``export`` module (``export_formats(config)``), if it has one; else none."""
        hook = getattr(self._export_module(), "export_formats", None)
        return hook(config) if hook is not None else {}

    def export_core(self, model, config, prepared: Prepared, fmt: str):
        """The numeric core that ``fmt`` (``onnx`` or ``litert``) holds, as a
        `common.export_formats.Core`: what the SavedModel computes between its preprocessing (string
        handling, scaling) and its postprocessing, and what a host needs to do those itself. A task
        that offers a format in `export_formats` implements this; this default calls the task package's
        ``export.export_core(model, config, prepared, fmt)``."""
        hook = getattr(self._export_module(), "export_core", None)
        if hook is None:
            raise NotImplementedError(f"the {self.name} task has no {fmt} export")
        return hook(model, config, prepared, fmt)

    def _export_module(self):
        """The ``export`` module beside the task's class (``tasks.<task>.export``), or None."""
        import importlib

        package = type(self).__module__.rpartition(".")[0]
        if not package:
            return None
        name = package + ".export"
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            return None

    def predict_outputs(self, output_path: Path) -> list[Path]:
        """Every file ``predict_file`` writes for ``output_path`` (checked, like --output itself, never to
        be an input or a file of the run)."""
        return [output_path]

    @abc.abstractmethod
    def predict_file(self, serve: Callable, config, state: dict, input_path: Path,
                     output_path: Path) -> dict:
        """Run the exported ``serving_default`` (``serve(**tensors) -> dict``) over a user file and
        write the results; return a short summary for the CLI table."""
