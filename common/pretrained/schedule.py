"""Fine-tuning a pretrained encoder: frozen or gradual unfreezing, discriminative learning rates and
warm-up (`FineTuneSchedule`, added by a task's ``callbacks`` through `fine_tune_callbacks`)."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


class FineTuneSchedule(keras.callbacks.Callback):
    """Frozen / gradual unfreezing, discriminative learning rates and warm-up, as per-layer learning-rate
    multipliers.

    The compiled optimizer's ``update_step`` (the per-variable step Keras documents for optimizer
    subclasses) is wrapped to multiply its learning rate by the multiplier of the variable's layer group,
    found by the optimizer's ``_var_key`` (the one key that matches a Keras variable and the
    ``tf.Variable`` the TensorFlow backend hands to ``update_step``, also under a distribution strategy).
    A multiplier of 0 freezes a group (its Adam moments still follow the gradients). ``groups`` lists the
    pretrained layers bottom to top (embedding, recurrent layer 0, 1, ...); every other layer is the new
    head, always trained. Multipliers are set at each epoch start (and each step of the warm-up) from the
    epoch number only, so a resumed run gets the same ones.

    Why no supported Keras mechanism (checked in Keras 3.15.1, ``keras/src/optimizers``): the optimizer
    has one learning rate, handed unchanged from ``apply`` to every variable's ``update_step``, and no
    per-variable hook (``exclude_from_weight_decay`` selects variables for weight decay only); scaling
    the gradients instead would not do (Adam divides the scale away). ``keras.optimizers.MultiOptimizer``
    (one optimizer per variable group, each with its own learning rate) would change results and
    artifacts: it hands each group's gradients to its own optimizer, so ``train.clipnorm``
    (``global_clipnorm``) would clip each group by its own norm instead of the whole gradient's;
    AdamW's weight decay would follow each group's learning rate (here frozen groups decay at the
    optimizer's rate); it has no ``learning_rate``, so Keras' ReduceLROnPlateau
    (``train.lr_schedule: reduce_on_plateau``) and TensorBoard log ``learning_rate_<optimizer>`` per
    group instead; and the lifecycle would have to build it from the task's groups
    (``common.training.make_optimizer`` builds one optimizer from ``train.*`` before any task callback
    exists), with a custom learning-rate schedule per group for multipliers that change each epoch and
    warm-up step, saved into model.keras and the run's backup (an interrupted run's optimizer state
    would no longer load). Separate optimizers applied in a custom ``train_step`` have the same clipping
    difference and need a ``keras.Model`` subclass around every task's model.
    """

    def __init__(self, groups: list[list], mode: str, factor: float, warmup_epochs: float):
        super().__init__()
        self.groups, self.mode, self.factor, self.warmup_epochs = groups, mode, factor, warmup_epochs
        self.multipliers = None
        self.epoch = 0

    def group_multipliers(self, epoch: int) -> np.ndarray:
        """Index 0: the head; then the pretrained groups bottom to top (depth ``d`` below the head)."""
        out = [1.0]
        for position in range(len(self.groups)):
            depth = len(self.groups) - position
            trained = self.mode == "all" or (self.mode == "gradual" and depth <= epoch)
            out.append(self.factor ** -depth if trained else 0.0)
        return np.array(out, dtype="float32")

    def _assign(self, batch: int) -> None:
        steps = self.params.get("steps") or 1
        ramp = 1.0
        if self.warmup_epochs:
            ramp = min(1.0, (self.epoch * steps + batch + 1) / (self.warmup_epochs * steps))
        self.multipliers.assign(self.group_multipliers(self.epoch) * ramp)

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        self.multipliers = tf.Variable(self.group_multipliers(0), trainable=False)
        index = {optimizer._var_key(v): g + 1 for g, group in enumerate(self.groups) for v in group}
        update_step, multipliers = optimizer.update_step, self.multipliers

        def scaled_update_step(gradient, variable, learning_rate):
            scale = tf.cast(multipliers[index.get(optimizer._var_key(variable), 0)], learning_rate.dtype)
            return update_step(gradient, variable, learning_rate * scale)

        optimizer.update_step = scaled_update_step

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._assign(0)

    def on_train_batch_begin(self, batch, logs=None):
        if self.warmup_epochs and self.epoch < self.warmup_epochs:
            self._assign(batch)


def fine_tune_callbacks(options, embedding, block) -> list:
    """The schedule for an encoder built by `assign_encoder` (the layers' trainable weights, bottom up);
    with frozen language-model features only the warm-up, over the whole model."""
    if options.pretrained_as == "features":
        return [FineTuneSchedule([], "all", 1.0, options.warmup_epochs)] if options.warmup_epochs else []
    groups = [list(embedding.trainable_weights)]
    for i, rnn in enumerate(block.rnns):
        groups.append(list(rnn.trainable_weights) + (list(block.norms[i].trainable_weights)
                                                     if i < len(block.norms) else []))
    return [FineTuneSchedule(groups, options.fine_tune, options.lr_factor, options.warmup_epochs)]


def fine_tune_description(options) -> str:
    if options.pretrained_as == "features":
        return (f"language models frozen, their top-layer states read beside the word embedding by an encoder "
                f"that starts random (ELMo / TagLM), {options.warmup_epochs:g} warm-up epoch(s)")
    mode = {"gradual": "gradual unfreezing (new layers first, then one more pretrained layer from the top "
                       "each epoch)", "frozen": "pretrained layers frozen", "all": "all layers trained"}
    return (f"{mode[options.fine_tune]}, learning rate / {options.lr_factor:g} per layer down the stack, "
            f"{options.warmup_epochs:g} warm-up epoch(s)")
