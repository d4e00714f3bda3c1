"""Bound the length of a batch of token ids without a fixed output length."""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnsuite")
class ClipSequence(keras.layers.Layer):
    """Cut token ids ``[batch, time]`` to at most ``max_length`` steps, keeping at least one step.

    `TextVectorization` without a fixed output length pads each batch only to its
    longest text, so short texts cost short recurrences; this layer bounds the
    length (long inputs) and keeps a batch of empty strings at one padding step
    so the recurrent layers never see a zero-length sequence.
    """

    def __init__(self, max_length, **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)

    def call(self, ids):
        ids = ids[:, : self.max_length]
        short = ops.maximum(1 - ops.shape(ids)[1], 0)
        return ops.pad(ids, [[0, 0], [0, short]])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}
