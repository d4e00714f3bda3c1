"""Hyperparameter search with KerasTuner over dotted config keys.

The search space is plain config (``tuner.search_space``), e.g.::

    model.rnn.units: {values: [64, 128]}
    train.learning_rate: {min: 0.0001, max: 0.01, sampling: log}

Each trial is the base config with those keys replaced, so anything a config
can say (including data keys such as the lookback) can be tuned. Rerunning the
same command resumes the search; the best config is written as ``best.yaml``,
which ``train`` accepts as is.
"""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
from pathlib import Path

import keras_tuner as kt
import yaml

from common import config as cfg
from common.errors import ConfigError
from common.io import atomic_write_text
from common.plots import save_bar
from common.precision import policy_scope
from common.report import fmt, table
from common.run import RunFolder
from common.training import compile_model, fit, monitor_mode, seed_everything

SPEC_KEYS = {"values", "min", "max", "step", "sampling"}


def validate_space(config) -> dict:
    """Check every search-space entry against the config before any trial runs."""
    space = config.tuner.search_space
    if not space:
        raise ConfigError("config key 'tuner.search_space' is empty; list the keys to tune, e.g. "
                          "model.rnn.units: {values: [32, 64]}")
    for key, spec in space.items():
        try:
            current = cfg.get_path(config, key)
        except AttributeError:
            raise ConfigError(f"config key 'tuner.search_space.{key}': '{key}' is not a config key") from None
        if isinstance(current, (dict, list)) or hasattr(current, "__dataclass_fields__"):
            raise ConfigError(f"config key 'tuner.search_space.{key}': only single values can be tuned")
        if not isinstance(spec, dict) or not (set(spec) <= SPEC_KEYS) or not (
                "values" in spec or {"min", "max"} <= set(spec)):
            raise ConfigError(f"config key 'tuner.search_space.{key}': expected {{values: [...]}} or "
                              f"{{min: .., max: .., step: .., sampling: linear|log}}, got {spec!r}")
        if spec.get("sampling", "linear") not in ("linear", "log", "reverse_log"):
            raise ConfigError(f"config key 'tuner.search_space.{key}.sampling': choose linear, log or reverse_log")
        samples = spec["values"] if "values" in spec else [spec["min"], spec["max"]]
        if not samples:
            raise ConfigError(f"config key 'tuner.search_space.{key}.values': give at least one value")
        for value in samples:
            try:
                cfg.with_values(config, {key: value})
            except ConfigError as exc:
                raise ConfigError(f"tuner.search_space.{key}: value {value!r} is not valid ({exc})") from None
    return space


def hp_value(hp, key: str, spec: dict):
    if "values" in spec:
        values = list(spec["values"])
        if all(isinstance(v, bool) for v in values):  # Choice would hand back 1/0
            return hp.Boolean(key, default=values[0]) if len(set(values)) == 2 else values[0]
        return hp.Choice(key, values)
    low, high = spec["min"], spec["max"]
    sampling = spec.get("sampling", "linear")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, spec.get("step", 1))) \
            and sampling == "linear":
        return hp.Int(key, low, high, step=spec.get("step", 1))
    return hp.Float(key, float(low), float(high), step=spec.get("step"), sampling=sampling)


class ConfigHyperModel(kt.HyperModel):
    """Builds and fits one trial: the base config with the trial's values, through the task hooks."""

    def __init__(self, task, base_config, space):
        super().__init__(name=task.name)
        self.task, self.base, self.space = task, base_config, space
        self._cache_key, self._prepared = None, None

    def config_for(self, hp):
        return cfg.with_values(self.base, {key: hp_value(hp, key, spec) for key, spec in self.space.items()})

    def prepared_for(self, config):
        key = yaml.safe_dump({"data": cfg.to_dict(config.data), "batch": config.train.batch_size,
                              "model": cfg.to_dict(config.model)})
        if key != self._cache_key:  # only data-changing trials re-read the data
            self._prepared, self._cache_key = None, None
            self._prepared, self._cache_key = self.task.prepare(config, None), key
        return self._prepared

    def build(self, hp):
        config = self.config_for(hp)
        seed_everything(config.seed, config.train.deterministic)
        prepared = self.prepared_for(config)
        with policy_scope(config.train.precision):
            model = self.task.build_model(config, prepared)
            compile_model(self.task, model, config, prepared)
        return model

    def fit(self, hp, model, *args, callbacks=(), epochs=None, **kwargs):
        """The same loop as `train` (`common.training.fit`), with KerasTuner's callbacks added."""
        config = self.config_for(hp)
        _, history = fit(self.task, model, config, self.prepared_for(config), callbacks=callbacks,
                         epochs=epochs or config.tuner.epochs or config.train.epochs,
                         initial_epoch=kwargs.get("initial_epoch", 0))
        return history


def _pruning(base_cls, keep: int, prune_during_search: bool):
    """A tuner class that deletes the checkpoints of all but the best ``keep`` trials."""

    class Pruning(base_cls):
        def prune(self):
            if self._is_worker():  # the chief owns the trial records
                return
            best = {t.trial_id for t in self.oracle.get_best_trials(keep)}
            for trial_id, trial in self.oracle.trials.items():
                if trial_id in best or trial.status != "COMPLETED":
                    continue
                for path in Path(self.get_trial_dir(trial_id)).glob("checkpoint*"):
                    path.unlink(missing_ok=True)

        trials_run = 0

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            self.trials_run += 1
            if prune_during_search:
                self.prune()

    return Pruning


def make_tuner(task, config, run: RunFolder, hypermodel):
    t = config.tuner
    monitor = t.objective or config.train.monitor or task.default_monitor
    direction = t.direction if t.direction != "auto" else monitor_mode(monitor, "auto")
    common = dict(hypermodel=hypermodel, objective=kt.Objective(monitor, direction), directory=str(run.path),
                  project_name="tuning", overwrite=False, seed=config.seed,
                  executions_per_trial=t.executions_per_trial)
    if t.algorithm == "random":
        return _pruning(kt.RandomSearch, t.keep_best_trials, True)(max_trials=t.max_trials, **common)
    if t.algorithm == "bayesian":
        return _pruning(kt.BayesianOptimization, t.keep_best_trials, True)(max_trials=t.max_trials, **common)
    # Hyperband resumes promising trials from their checkpoints, so prune only when the search ends.
    return _pruning(kt.Hyperband, t.keep_best_trials, False)(
        max_epochs=t.epochs or config.train.epochs, factor=3, hyperband_iterations=1, **common)


def trials_rows(tuner, space):
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        values = [trial.hyperparameters.values.get(k, "") for k in space]
        rows.append([trial_id, trial.status, "" if trial.score is None else trial.score, *values])
    return rows


def is_worker() -> bool:
    """True in a distributed search's worker process (KerasTuner's chief/worker environment)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and "chief" not in os.environ.get("KERASTUNER_TUNER_ID", "")


def tune(task, config, run_dir=None):
    """Run (or resume) the search; write best.yaml, trials.csv/.md and plots/tuning.png.

    Distributed search uses KerasTuner's own chief/worker mode: every process runs this
    with the same run folder and KERASTUNER_TUNER_ID / _ORACLE_IP / _ORACLE_PORT set; the
    chief serves the oracle and writes the results, the workers run the trials.
    """
    space = validate_space(config)
    run = RunFolder(run_dir) if run_dir else RunFolder(Path("runs") / task.name / f"{config.name}-tune")
    run.create()
    cfg.save_yaml(cfg.to_dict(config), run.config_path)
    seed_everything(config.seed, config.train.deterministic)
    tuner = make_tuner(task, config, run, ConfigHyperModel(task, config, space))
    tuner.search()
    if is_worker():
        return run, {"worker": os.environ["KERASTUNER_TUNER_ID"], "trials run": tuner.trials_run}
    tuner.prune()
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best_values = {key: best_hp.values[key] for key in space if key in best_hp.values}
    best_config = cfg.with_values(config, {**best_values, "name": f"{config.name}-best"})
    cfg.save_yaml(cfg.to_dict(best_config), run.path / "best.yaml")
    columns = ["trial", "status", "score", *space]
    rows = trials_rows(tuner, space)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([columns, *rows])
    atomic_write_text(run.path / "trials.csv", buffer.getvalue())
    objective = tuner.oracle.objective.name
    atomic_write_text(run.path / "trials.md", f"# Tuning trials ({objective}, "
                      f"{tuner.oracle.objective.direction})\n\n"
                      + table(columns, [[fmt(c) for c in r] for r in rows], markdown=True) + "\n")
    scores = {f"trial {r[0]}": r[2] for r in rows if isinstance(r[2], (int, float)) and math.isfinite(r[2])}
    if scores:
        save_bar(scores, run.plots_dir / "tuning.png", f"Objective per trial ({objective})", objective)
    shutil.rmtree(run.path / "tuning" / ".tmp", ignore_errors=True)
    return run, {**best_values, objective: tuner.oracle.get_best_trials(1)[0].score}
