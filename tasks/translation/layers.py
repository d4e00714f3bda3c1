"""Keras layers only the translation model uses (shared ones live in `common.layers`)."""
from __future__ import annotations

import keras
from keras import ops

from tasks.translation.data import PAD_ID


@keras.saving.register_keras_serializable(package="rnnsuite")
class ScheduledSampling(keras.layers.Layer):
    """Mix gold decoder inputs with the model's own previous predictions (training only).

    Teacher forcing alone never shows the decoder its own mistakes, which it meets at
    every step of real decoding; replacing some gold inputs with predictions narrows that
    gap (Bengio et al., 2015). Inputs ``[tokens, logits]``: ``tokens`` ``[batch, T]`` is the
    teacher-forced input (start token first), ``logits`` ``[batch, T, vocab]`` the first
    pass's predictions, so the prediction for position ``t`` is ``argmax(logits[:, t - 1])``.
    Padding and the start token are never replaced. Outside training the gold tokens pass through.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed = seed
        self.supports_masking = True
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        tokens, logits = inputs
        if not training or self.rate <= 0:
            return tokens
        predicted = ops.cast(ops.argmax(ops.stop_gradient(logits), axis=-1), tokens.dtype)
        shifted = ops.concatenate([tokens[:, :1], predicted[:, :-1]], axis=1)
        draw = keras.random.uniform(ops.shape(tokens), seed=self.seed_generator) < self.rate
        position = ops.arange(ops.shape(tokens)[1])[None, :]
        use = draw & (tokens != PAD_ID) & (shifted != PAD_ID) & (position > 0)
        return ops.where(use, shifted, tokens)

    def compute_output_spec(self, inputs, training=None):
        return keras.KerasTensor(inputs[0].shape, dtype=inputs[0].dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
