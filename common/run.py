"""The run folder: one place per training run, laid out the same for every task.

``runs/<task>/<name>/`` holds config.yaml, state.json, metrics.json, history.csv,
plots/, checkpoints/, logs/, model.keras, export/ and report.md.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from common.errors import UserError
from common.io import check_writable, nearest_existing


class RunFolder:
    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def default(cls, task_name: str, run_name: str) -> "RunFolder":
        return cls(Path("runs") / task_name / run_name)

    config_path = property(lambda self: self.path / "config.yaml")
    state_path = property(lambda self: self.path / "state.json")
    metrics_path = property(lambda self: self.path / "metrics.json")
    history_path = property(lambda self: self.path / "history.csv")
    plots_dir = property(lambda self: self.path / "plots")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    backup_dir = property(lambda self: self.path / "checkpoints" / "backup")
    best_weights_path = property(lambda self: self.path / "checkpoints" / "best.weights.h5")
    logs_dir = property(lambda self: self.path / "logs")
    model_path = property(lambda self: self.path / "model.keras")
    export_dir = property(lambda self: self.path / "export")
    report_path = property(lambda self: self.path / "report.md")
    training_path = property(lambda self: self.path / "checkpoints" / "training.json")  # facts of a finished fit
    state_schema_path = property(lambda self: self.path / "checkpoints" / "state.schema.json")  # its shape
    model_schema_path = property(lambda self: self.path / "checkpoints" / "model.schema.json")  # its weights
    config_digest_path = property(lambda self: self.path / "checkpoints" / "config.sha256")  # config.yaml's
    failed_path = property(lambda self: self.path / "FAILED")  # why the last attempt stopped, if it did

    def clear(self):
        """Remove what a run writes (and nothing else: --run-dir may name a folder that holds other files)."""
        for path in (self.config_path, self.state_path, self.metrics_path, self.history_path, self.model_path,
                     self.report_path, self.failed_path):
            path.unlink(missing_ok=True)
        for folder in (self.plots_dir, self.checkpoints_dir, self.logs_dir, self.export_dir):
            shutil.rmtree(folder, ignore_errors=True)

    def check_is_folder(self):
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--run-dir {self.path} is a file; give a folder (it is created if missing)")
        ancestor = nearest_existing(self.path)
        if not ancestor.is_dir():
            raise UserError(f"--run-dir {self.path}: {ancestor} is a file, not a folder; give a folder path")

    def check_writable(self):
        """Before any work: the folder (or where it would be created) takes new files."""
        self.check_is_folder()
        check_writable(self.path, "--run-dir", folder=True)

    def artifacts(self) -> list[Path]:
        """What a run writes: a predict --output or an input of train must not be one of these."""
        return [self.config_path, self.state_path, self.metrics_path, self.history_path, self.model_path,
                self.report_path, self.failed_path, self.plots_dir, self.checkpoints_dir, self.logs_dir,
                self.export_dir]

    def owns(self, path) -> bool:
        """Whether ``path`` is one of the run's artifacts or lies inside one of its folders."""
        path = Path(os.path.abspath(path))
        return any(path == Path(os.path.abspath(a)) or Path(os.path.abspath(a)) in path.parents
                   for a in self.artifacts())

    def create(self):
        for folder in (self.path, self.plots_dir, self.checkpoints_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def require(self, *paths, hint="train it first"):
        """Fail with one clear message when a trained artifact is missing, is a folder instead of a file,
        or (the export's saved_model.pb) is damaged: every command refuses before it loads, writes or
        binds a port."""
        self.check_is_folder()
        if not self.path.is_dir():
            raise UserError(f"run folder not found: {self.path} ({hint})")
        for path in map(Path, paths):
            if not path.exists():
                raise UserError(f"{path} is missing: {self.path} is not a finished run ({hint})")
            if path.is_dir():
                again = (f"export --run-dir {self.path}" if self.export_dir in path.parents
                         else f"train --overwrite --run-dir {self.path}")
                raise UserError(f"{path} is a folder, not a file: {self.path} is damaged; remove it, then "
                                f"rerun `{again}`")
            if path == self.export_dir / "saved_model.pb":
                from common.export import check_export

                check_export(self.export_dir)
                self.check_export_is_own()

    def check_export_is_own(self):
        """An export copied from another run (another task's, or other sizes) loads and then serves the
        wrong model, or fails deep in TensorFlow on inputs it does not take: every weight of the model
        this run trained (``model.schema.json``, written beside model.keras) must be among the export's
        variables. A run from before the record has nothing to compare."""
        import json
        from collections import Counter

        import tensorflow as tf

        try:
            wrote = json.loads(self.model_schema_path.read_text(encoding="utf-8"))
            shapes = Counter(tuple(int(d) for d in shape) for shape in wrote["weights"])
        except (OSError, ValueError, TypeError, KeyError):
            return
        index = self.export_dir / "variables" / "variables"
        found = Counter(tuple(shape) for name, shape in tf.train.load_checkpoint(str(index))
                        .get_variable_to_shape_map().items() if name.startswith("variables/"))
        missing = shapes - found
        if missing:
            raise UserError(f"{self.export_dir} is not the export of the model this run trained (it lacks a "
                            f"weight of shape {list(next(iter(missing)))}: copied from another run?); write "
                            f"it anew: export --run-dir {self.path}")

    def is_interrupted(self) -> bool:
        return self.backup_dir.is_dir() and any(self.backup_dir.iterdir())

    def holds_progress(self) -> bool:
        """Work a rerun of `train` continues rather than replaces: an interrupted fit's backup, or a trained
        model that was not yet evaluated and exported (a run killed after saving it)."""
        return self.is_interrupted() or (self.model_path.exists() and not self.is_finished())

    def is_finished(self) -> bool:
        """Trained, evaluated and exported: every step of `train` completed."""
        return all(p.exists() for p in (self.model_path, self.metrics_path, self.export_dir / "saved_model.pb"))
