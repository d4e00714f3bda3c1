"""The Keras training loop every task shares, in `train` and in every `tune` trial alike.

``fit`` with early stopping on a validation metric, an optional learning-rate
schedule, gradient clipping and seeding; in a run folder also an atomically
written best checkpoint, a crash-safe backup (`RunBackup`) so a killed run
resumes exactly where it stopped, and CSV and TensorBoard logs.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.errors import ConfigError, UserError
from common.io import atomic_path, atomic_write_json, atomic_write_text

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
    """Early stopping plus an atomically written best-weights file (when ``path`` is given).

    Its memory (best value, its epoch, epochs without improvement) is part of the
    run's backup (`RunBackup`), so a resumed run stops and keeps the same epoch as
    an uninterrupted one.
    """

    def __init__(self, path, monitor, mode, patience):
        super().__init__()
        self.path = str(path) if path is not None else None
        self.monitor = monitor
        self.mode = mode
        self.patience = patience
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = None
        self.wait = 0

    def get_state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def set_state(self, state: dict) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]

    def _better(self, value) -> bool:
        return value < self.best if self.mode == "min" else value > self.best

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


class Plateau(keras.callbacks.ReduceLROnPlateau):
    """Keras' ReduceLROnPlateau with its memory (best value, epochs without improvement, cooldown) in the
    run's backup, so a resumed run cuts the learning rate at the same epochs as an uninterrupted one."""

    def get_state(self) -> dict:
        best = None if self.best is None else float(self.best)
        return {"best": best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def set_state(self, state: dict) -> None:
        self.best, self.wait, self.cooldown_counter = state["best"], state["wait"], state["cooldown_counter"]


MANIFEST = {"epoch": int, "weights": str, "sha256": str, "callbacks": dict, "history": list, "random": list}


def _manifest_problem(state) -> str | None:
    """What makes a parsed backup.json unusable (None: nothing), checked before anything is restored."""
    if not isinstance(state, dict):
        return "not a JSON object"
    for key, kind in MANIFEST.items():
        if not isinstance(state.get(key), kind):
            return f"no {key!r} {kind.__name__}"
    if not all(isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, int) for x in pair)
               for pair in state["random"]):
        return "a 'random' entry is not a pair of integers"
    return None


class RunBackup(keras.callbacks.Callback):
    """Crash-safe replacement for Keras' ``BackupAndRestore`` and ``CSVLogger``: kill -9 at any moment,
    rerun, and the run continues as if it had never stopped.

    At each epoch end it writes, in this order: the weights and optimizer state to a
    new file, ``history.csv`` (all rows so far), and last ``backup.json`` naming that
    file with its sha256, the epoch, the memory of the callbacks in ``memory`` (early
    stopping, the plateau schedule) and the random state. Each write is a
    rename of a finished temporary file, and ``backup.json`` is the commit point: a
    kill before it leaves the previous epoch's backup whole (Keras writes the
    weights file in place, so a kill mid-write left a truncated HDF5 file that no
    rerun could load). The previous generation is kept, so a damaged newest file
    (wrong hash, unreadable) falls back to it.

    On resume it restores the weights (with the optimizer state and learning rate),
    the random state (`random_state`), the callbacks' memory and the history rows up
    to the backed-up epoch; `fit` starts the data stream at that epoch's batches
    (``resume_epoch``), so dropout masks, shuffles and learning rates continue as in
    an uninterrupted run and it ends with bit-identical weights.
    """

    def __init__(self, folder, history_csv, memory: dict):
        super().__init__()
        self.folder = Path(folder)
        self.history_csv = Path(history_csv)
        self.memory = memory
        self.rows: list[dict] = []
        self.restore = self._latest_loadable()  # read now: fit needs resume_epoch before it starts
        self.resume_epoch = self.restore[0]["epoch"] if self.restore else 0

    manifest = property(lambda self: self.folder / "backup.json")
    previous = property(lambda self: self.folder / "backup.previous.json")

    def on_train_begin(self, logs=None):
        if self.restore is None:
            return
        state, weights = self.restore
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(str(weights))
        except ValueError:
            raise self._another_model() from None
        if not set_random_state(self.model, state["random"]):
            raise self._another_model()
        self.model._initial_epoch = state["epoch"]  # how Keras' own BackupAndRestore resumes fit
        for name, callback in self.memory.items():
            if name in state["callbacks"]:  # else switched on since the backup (lr_schedule): starts afresh
                callback.set_state(state["callbacks"][name])
        self.rows = state["history"]

    def _another_model(self) -> UserError:
        return UserError(f"the backup in {self.folder} was written by a model built differently (the "
                         "config or the data changed since the run stopped); rerun with the settings it "
                         "started with, delete that folder to restart the run from epoch 1, or rerun train "
                         "with --overwrite")

    def _latest_loadable(self):
        damaged = []
        for manifest in (self.manifest, self.previous):
            if not manifest.exists():
                continue
            try:
                state = json.loads(manifest.read_text(encoding="utf-8"))
                problem = _manifest_problem(state)
                if problem:
                    damaged.append(f"{manifest.name} ({problem})")
                    continue
                weights = self.folder / state["weights"]
                if _sha256(weights) == state["sha256"]:
                    return state, weights
                damaged.append(f"{weights.name} (checksum differs)")
            except (OSError, ValueError) as exc:
                damaged.append(f"{manifest.name} ({type(exc).__name__})")
        if damaged:
            raise UserError(f"the backup in {self.folder} is damaged: {', '.join(damaged)}; delete that folder to "
                            "restart the run from epoch 1, or rerun train with --overwrite")
        return None

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        self.folder.mkdir(parents=True, exist_ok=True)
        weights = self.folder / f"epoch-{epoch + 1}.weights.h5"
        with atomic_path(weights) as tmp:
            self.model.save_weights(str(tmp))
        _write_history(self.history_csv, self.rows)
        state = {"epoch": epoch + 1, "weights": weights.name, "sha256": _sha256(weights),
                 "callbacks": {name: callback.get_state() for name, callback in self.memory.items()},
                 "history": self.rows, "random": random_state(self.model)}
        if self.manifest.exists():
            os.replace(self.manifest, self.previous)
        atomic_write_json(self.manifest, state)
        keep = {weights.name}
        if self.previous.exists():
            keep.add(json.loads(self.previous.read_text(encoding="utf-8")).get("weights", ""))
        for old in self.folder.glob("epoch-*.weights.h5"):
            if old.name not in keep:
                old.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.folder, ignore_errors=True)  # finished: nothing to resume


def _seed_states(model) -> list:
    """The state of every `keras.random.SeedGenerator` in ``model`` (dropout, recurrent dropout, word
    dropout, scheduled sampling...), in the model's layer order: ``model.variables`` is ``model.weights``
    plus these. ``save_weights`` leaves them out, so without them a resumed run would draw the masks of
    epoch 1 again in the epoch it resumes at."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def random_state(model) -> list[list[int]]:
    """Every generator's state ``[seed, counter]``, as JSON for the backup."""
    return [[int(x) for x in keras.ops.convert_to_numpy(v)] for v in _seed_states(model)]


def set_random_state(model, values: list[list[int]]) -> bool:
    """``random_state`` back into ``model``; False (nothing set) when it has another number of generators."""
    states = _seed_states(model)
    if len(values) != len(states):
        return False
    for variable, value in zip(states, values):
        variable.assign(np.array(value, dtype=variable.dtype))
    return True


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_history(path, rows: list[dict]) -> None:
    """history.csv, one row per epoch, columns as Keras' CSVLogger writes them (epoch, then sorted)."""
    columns = ["epoch"] + sorted({key for row in rows for key in row} - {"epoch"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def fit(task, model, config, prepared, run=None, *, callbacks=(), epochs=None, initial_epoch=0):
    """Train ``model``: the one loop behind `train` (``run`` given) and each `tune` trial (``run`` None).

    Both get the same early stopping, schedules, clipping (in the optimizer),
    NaN stop and task callbacks; a run folder adds the best checkpoint (loaded
    back at the end), the crash-safe `RunBackup` (with the CSV history) and TensorBoard.
    ``callbacks`` come after the task's, which may add metrics (``val_f1``)
    that they read. Returns the `BestCheckpoint` (best value and epoch) and
    Keras' ``History``.
    """
    monitor = config.train.monitor or task.default_monitor
    mode = monitor_mode(monitor, config.train.monitor_mode)
    best = BestCheckpoint(run.best_weights_path if run else None, monitor, mode,
                          config.train.early_stopping_patience)
    memory = {"best": best}  # the callbacks whose state the backup keeps
    if config.train.lr_schedule == "reduce_on_plateau":
        memory["plateau"] = Plateau(monitor=monitor, mode=mode, factor=config.train.lr_decay_rate,
                                    patience=max(1, config.train.early_stopping_patience // 2))
    # The backup comes after every callback that changes the model, the optimizer (a cut learning rate)
    # or its own memory at an epoch's end: it saves what they leave.
    every = [*task.callbacks(model, config, prepared), *callbacks, *memory.values(),
             keras.callbacks.TerminateOnNaN()]
    if run is not None:
        backup = RunBackup(run.backup_dir, run.history_path, memory)
        every.append(backup)
        if config.train.tensorboard:
            every.append(keras.callbacks.TensorBoard(log_dir=str(run.logs_dir), write_graph=False))
    train, steps = prepared.train, int(prepared.train.cardinality())
    if steps > 0:
        # One data stream for the whole fit: epoch k gets the k-th pass of the task's seeded shuffle,
        # whatever iterators Keras makes, and a resumed run starts right at the epoch it resumes.
        skip = steps * (backup.resume_epoch if run is not None else 0)
        train = train.repeat().skip(skip)
    history = model.fit(train, validation_data=prepared.val, epochs=epochs or config.train.epochs,
                        steps_per_epoch=steps if steps > 0 else None, initial_epoch=initial_epoch,
                        callbacks=every, shuffle=False, verbose=keras_verbosity(config.train.verbose))
    if run is not None and os.path.exists(run.best_weights_path):
        model.load_weights(str(run.best_weights_path))
    return best, history
