"""The Keras training loop every task shares, in `train` and in every `tune` trial alike.

``fit`` with early stopping on a validation metric, an optional learning-rate
schedule, gradient clipping and seeding; in a run folder also an atomically
written best checkpoint, ``BackupAndRestore`` so a killed run resumes where it
stopped, and CSV and TensorBoard logs. Early stopping and the best checkpoint
re-read ``history.csv`` when a run resumes, so an interruption does not reset
their memory of the best epoch.
"""
from __future__ import annotations

import csv
import math
import os
import sys

import keras
import tensorflow as tf

from common.errors import ConfigError

VERBOSITY = {"bar": 1, "epoch": 2, "none": 0}


def keras_verbosity(name: str) -> int:
    """A progress bar on a terminal, one line per epoch in logs and CI."""
    if name == "auto":
        return 1 if sys.stdout.isatty() else 2
    return VERBOSITY[name]


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Same seed and config give the same weights, shuffles and therefore metrics."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def split_cpu(replicas: int) -> None:
    """Expose the CPU as ``replicas`` logical devices (for data-parallel runs without GPUs).

    TensorFlow allows this only before its runtime starts, i.e. early in a fresh process.
    """
    if replicas <= 1:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        raise ConfigError("config key 'train.cpu_replicas' can only take effect in a fresh process "
                          "(TensorFlow was already initialized); run the CLI command directly") from None


def strategy_for(name: str):
    """``mirrored``: one replica per GPU, else per logical CPU device; ``multi_worker``: the
    cluster described by the TF_CONFIG environment variable."""
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def monitor_mode(monitor: str, mode: str) -> str:
    if mode != "auto":
        return mode
    lowered = monitor.lower()
    if any(word in lowered for word in ("acc", "f1", "auc", "bleu", "chrf", "rouge", "precision", "recall")):
        return "max"
    return "min"


def make_optimizer(train_cfg, steps_per_epoch: int):
    lr = train_cfg.learning_rate
    if train_cfg.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps_per_epoch * train_cfg.epochs))
    elif train_cfg.lr_schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(
            lr, decay_steps=max(1, steps_per_epoch), decay_rate=train_cfg.lr_decay_rate)
    kwargs = {"learning_rate": lr}
    if train_cfg.clipnorm is not None:
        kwargs["global_clipnorm"] = train_cfg.clipnorm
    if train_cfg.optimizer == "adam":
        return keras.optimizers.Adam(**kwargs)
    if train_cfg.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=train_cfg.weight_decay, **kwargs)
    if train_cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(**kwargs)
    return keras.optimizers.SGD(momentum=0.9, **kwargs)


def steps_in(dataset) -> int:
    steps = int(dataset.cardinality())
    return steps if steps > 0 else 1


def compile_model(task, model, config, prepared) -> None:
    optimizer = make_optimizer(config.train, steps_in(prepared.train))
    model.compile(optimizer=optimizer, **task.compile_args(config, prepared))


class BestCheckpoint(keras.callbacks.Callback):
    """Early stopping plus an atomically written best-weights file (when ``path`` is given), resumable.

    On resume the best value and the epochs-without-improvement count are
    rebuilt from the rows already in ``history.csv``.
    """

    def __init__(self, path, monitor, mode, patience, history_csv=None):
        super().__init__()
        self.path = str(path) if path is not None else None
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.history_csv = history_csv
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = None
        self.wait = 0

    def _better(self, value) -> bool:
        return value < self.best if self.mode == "min" else value > self.best

    def on_train_begin(self, logs=None):
        if self.path and self.history_csv and os.path.exists(self.history_csv) and os.path.exists(self.path):
            with open(self.history_csv, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    try:
                        value = float(row[self.monitor])
                    except (KeyError, TypeError, ValueError):
                        continue
                    if self._better(value):
                        self.best, self.best_epoch, self.wait = value, int(row["epoch"]), 0
                    else:
                        self.wait += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ConfigError(f"train.monitor '{self.monitor}' is not among the logged metrics "
                              f"({', '.join(sorted(logs))}); set train.monitor to one of them")
        value = float(logs[self.monitor])
        if math.isnan(value):
            self.model.stop_training = True
            return
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.path:
                tmp = self.path.replace(".weights.h5", ".partial.weights.h5")
                self.model.save_weights(tmp)
                os.replace(tmp, self.path)  # atomic: a crash never leaves a half-written best checkpoint
        else:
            self.wait += 1
            if self.patience and self.wait >= self.patience:
                self.model.stop_training = True


def fit(task, model, config, prepared, run=None, *, callbacks=(), epochs=None, initial_epoch=0):
    """Train ``model``: the one loop behind `train` (``run`` given) and each `tune` trial (``run`` None).

    Both get the same early stopping, schedules, clipping (in the optimizer),
    NaN stop and task callbacks; a run folder adds the best checkpoint (loaded
    back at the end), ``BackupAndRestore``, the CSV history and TensorBoard.
    ``callbacks`` come after the task's, which may add metrics (``val_f1``)
    that they read. Returns the `BestCheckpoint` (best value and epoch) and
    Keras' ``History``.
    """
    monitor = config.train.monitor or task.default_monitor
    mode = monitor_mode(monitor, config.train.monitor_mode)
    best = BestCheckpoint(run.best_weights_path if run else None, monitor, mode,
                          config.train.early_stopping_patience, run.history_path if run else None)
    every = list(task.callbacks(model, config, prepared)) + list(callbacks) + [best,
                                                                              keras.callbacks.TerminateOnNaN()]
    if run is not None:
        every += [keras.callbacks.CSVLogger(str(run.history_path), append=True),
                  keras.callbacks.BackupAndRestore(str(run.backup_dir))]
        if config.train.tensorboard:
            every.append(keras.callbacks.TensorBoard(log_dir=str(run.logs_dir), write_graph=False))
    if config.train.lr_schedule == "reduce_on_plateau":
        every.append(keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, mode=mode, factor=config.train.lr_decay_rate,
            patience=max(1, config.train.early_stopping_patience // 2)))
    history = model.fit(prepared.train, validation_data=prepared.val, epochs=epochs or config.train.epochs,
                        initial_epoch=initial_epoch, callbacks=every, shuffle=False,
                        verbose=keras_verbosity(config.train.verbose))
    if run is not None and os.path.exists(run.best_weights_path):
        model.load_weights(str(run.best_weights_path))
    return best, history
