"""Turning a masked sequence ``[batch, time, features]`` into one vector ``[batch, features]``.

Padding must never leak into the pooled vector: every mode here honours the
Keras mask (from ``mask_zero`` embeddings through the recurrent block), and a
row with no valid step at all (an empty text) pools to zeros rather than NaN
or -inf.

Modes: ``last`` (the output at the last valid step), ``max``, ``mean``,
``max_mean`` (both side by side, twice the features: ULMFiT's concat pooling,
Howard & Ruder 2018, without its last step, which a bidirectional output
sequence makes meaningless) and ``attention`` (a learned weighted mean,
Bahdanau-style scoring as in Yang et al. 2016's hierarchical attention networks). For a *bidirectional* RNN,
``last`` on the output sequence sees the backward direction after only one
token; classifiers should instead take the RNN's own final state
(``return_sequences=False``), which is what `common.layers.RecurrentBlock` gives.
"""
from __future__ import annotations

import keras
from keras import ops

POOLING_MODES = ("last", "max", "mean", "max_mean", "attention")
SEQUENCE_MODES = ("last", "max", "mean", "max_mean")


def _float_mask(inputs, mask):
    """``[batch, time, 1]`` float mask, all ones when the input carries no mask."""
    if mask is None:
        return ops.ones_like(inputs[..., :1])
    return ops.expand_dims(ops.cast(mask, inputs.dtype), -1)


def _mean(inputs, weights):
    return ops.sum(inputs * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)


def _max(inputs, weights, any_valid):
    lowest = ops.min(inputs) - 1.0  # below every valid value, finite (unlike -inf)
    return ops.max(ops.where(weights > 0, inputs, lowest), axis=1) * any_valid


@keras.saving.register_keras_serializable(package="rnnsuite")
class SequencePooling(keras.layers.Layer):
    """Mask-aware ``last`` / ``max`` / ``mean`` / ``max_mean`` pooling over the time axis (no weights)."""

    def __init__(self, mode="mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in SEQUENCE_MODES:
            raise ValueError(f"mode must be one of {', '.join(SEQUENCE_MODES)}, got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        weights = _float_mask(inputs, mask)
        any_valid = ops.minimum(ops.sum(weights, axis=1), 1.0)  # [batch, 1]: 0 for an empty row
        if self.mode == "mean":
            return _mean(inputs, weights)
        if self.mode == "max":
            return _max(inputs, weights, any_valid)
        if self.mode == "max_mean":
            return ops.concatenate([_max(inputs, weights, any_valid), _mean(inputs, weights)], axis=-1)
        # last: the highest time index whose mask is on (works whatever side the padding is on)
        steps = ops.cast(ops.arange(ops.shape(inputs)[1]), inputs.dtype)
        last = ops.cast(ops.max(weights[..., 0] * steps[None, :], axis=1), "int32")
        picked = ops.take_along_axis(inputs, last[:, None, None], axis=1)[:, 0, :]
        return picked * any_valid

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        if self.mode == "max_mean" and features is not None:
            features *= 2
        return (input_shape[0], features)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="rnnsuite")
class AttentionPooling(keras.layers.Layer):
    """Learned weighted mean over valid steps: ``softmax(v . tanh(W h_t + b))`` with padding excluded.

    With ``return_weights=True`` the layer returns ``(pooled, weights)``, weights
    ``[batch, time]`` summing to 1 over the valid steps, for plots and inspection.
    """

    def __init__(self, units=64, return_weights=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.return_weights = return_weights
        self.supports_masking = True
        self.project = keras.layers.Dense(units, activation="tanh", name="project")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        self.project.build(input_shape)
        self.score.build(tuple(input_shape[:-1]) + (self.units,))
        self.built = True

    def attention_weights(self, inputs, mask=None):
        """``[batch, time]`` weights: softmax over the valid steps, exactly 0 on padding."""
        scores = self.score(self.project(inputs))[..., 0]
        if mask is not None:
            # a large finite negative rather than -inf: an all-padding row stays finite (uniform)
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=-1)
        if mask is not None:
            weights = weights * ops.cast(mask, weights.dtype)  # exact zeros on padding (empty row -> 0)
        return weights

    def call(self, inputs, mask=None):
        weights = self.attention_weights(inputs, mask)
        pooled = ops.sum(inputs * weights[..., None], axis=1)
        return (pooled, weights) if self.return_weights else pooled

    def compute_mask(self, inputs, mask=None):
        return None if not self.return_weights else [None, None]

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        return (pooled, (input_shape[0], input_shape[1])) if self.return_weights else pooled

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_weights": self.return_weights}


def pooling_layer(mode: str, attention_units: int = 64, name: str = "pooling"):
    """The pooling layer for a config's ``pooling`` choice."""
    if mode == "attention":
        return AttentionPooling(attention_units, name=name)
    if mode in SEQUENCE_MODES:
        return SequencePooling(mode, name=name)
    raise ValueError(f"pooling must be one of {', '.join(POOLING_MODES)}, got {mode!r}")
