"""Attention over an encoder's outputs: Bahdanau (additive) and Luong (dot / general) scoring.

Both layers wrap Keras' own `AdditiveAttention` / `Attention` for the score ->
masked softmax -> weighted sum part, and add the learned projections that the
papers put around it (Keras' layers have none). Source padding is masked
inside: a padded position gets a score 1e9 below the others, whose softmax
weight underflows to exactly 0.0 in float32, so padding never leaks into the
context vector.

Keys are a projection of the encoder outputs that does not depend on the
query, so a decoder can compute them once per source with `project_keys` and
pass them to every decoding step instead of recomputing them.

Call: ``context, weights = layer(query, values, keys=None, source_mask=None)`` with
``query`` ``[batch, Tq, q_dim]`` (or ``[batch, q_dim]`` for one step),
``values`` ``[batch, Ts, v_dim]`` and ``source_mask`` ``[batch, Ts]`` (True = real
token). The mask has its own name, not Keras' implicit ``mask``, so that the
query's (target) mask can never be mistaken for the source mask. Returns
``context`` ``[batch, Tq, v_dim]`` and ``weights``
``[batch, Tq, Ts]`` (without the Tq axis for a 2-D query).
"""
from __future__ import annotations

import keras
from keras import ops

ATTENTION_TYPES = ("bahdanau", "luong_dot", "luong_general")


class _SourceAttention(keras.layers.Layer):
    """Shared call logic; subclasses define the projections and the Keras scorer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # accepts a masked query; the output carries no mask

    def compute_mask(self, *args, **kwargs):
        return None

    def project_keys(self, values):
        """Keys for ``values``: compute once per source, reuse at every decoding step."""
        return values

    def project_query(self, query):
        return query

    def call(self, query, values, keys=None, source_mask=None, training=None):
        single_step = len(query.shape) == 2
        if single_step:
            query = ops.expand_dims(query, 1)
        if keys is None:
            keys = self.project_keys(values)
        value_mask = None if source_mask is None else ops.cast(source_mask, "bool")
        context, weights = self.scorer([self.project_query(query), values, keys],
                                       mask=[None, value_mask], return_attention_scores=True,
                                       training=training)
        if single_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_output_spec(self, query, values, keys=None, source_mask=None, training=None):
        batch, dtype = query.shape[0], self.compute_dtype  # bfloat16 in a mixed_bfloat16 model
        value_dim, source_len = values.shape[-1], values.shape[1]
        if len(query.shape) == 2:
            return (keras.KerasTensor((batch, value_dim), dtype),
                    keras.KerasTensor((batch, source_len), dtype))
        target_len = query.shape[1]
        return (keras.KerasTensor((batch, target_len, value_dim), dtype),
                keras.KerasTensor((batch, target_len, source_len), dtype))


@keras.saving.register_keras_serializable(package="rnnsuite")
class BahdanauAttention(_SourceAttention):
    """Additive attention (Bahdanau et al., 2015): ``score = v . tanh(W_q q + W_k h_s)``."""

    def __init__(self, units=128, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dropout = dropout
        self.query_dense = keras.layers.Dense(units, use_bias=False, name="query")
        self.key_dense = keras.layers.Dense(units, name="key")
        # use_scale=True is the learned vector v of the paper.
        self.scorer = keras.layers.AdditiveAttention(use_scale=True, dropout=dropout, name="score")

    def build(self, query_shape, values_shape=None, *args, **kwargs):
        self.query_dense.build(query_shape)
        self.key_dense.build(values_shape)
        projected = (*values_shape[:-1], self.units)
        self.scorer.build([(*query_shape[:-1], self.units), values_shape, projected])
        self.built = True

    def project_keys(self, values):
        return self.key_dense(values)

    def project_query(self, query):
        return self.query_dense(query)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="rnnsuite")
class LuongAttention(_SourceAttention):
    """Multiplicative attention (Luong et al., 2015).

    ``dot``: ``score = q . h_s`` (query and values must have the same width);
    ``general``: ``score = q . W h_s``.
    """

    def __init__(self, score="general", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if score not in ("dot", "general"):
            raise ValueError(f"LuongAttention score must be 'dot' or 'general', got {score!r}")
        self.score = score
        self.dropout = dropout
        self.key_dense = None
        self.scorer = keras.layers.Attention(score_mode="dot", dropout=dropout, name="score")

    def build(self, query_shape, values_shape=None, *args, **kwargs):
        query_dim, value_dim = query_shape[-1], values_shape[-1]
        if self.score == "dot" and query_dim != value_dim:
            raise ValueError(f"Luong dot attention needs query and values of the same width, got "
                             f"{query_dim} and {value_dim}; use score='general' or project one of them")
        if self.score == "general":
            # W h_s, projected into the query's space so the score is a plain dot product.
            self.key_dense = keras.layers.Dense(query_dim, use_bias=False, name="key")
            self.key_dense.build(values_shape)
        self.scorer.build([query_shape, values_shape, (*values_shape[:-1], query_dim)])
        self.built = True

    def project_keys(self, values):
        return values if self.key_dense is None else self.key_dense(values)

    def get_config(self):
        return {**super().get_config(), "score": self.score, "dropout": self.dropout}


def make_attention(kind: str, units: int = 128, dropout: float = 0.0, name: str = "attention"):
    """Attention layer by config name: ``bahdanau``, ``luong_dot`` or ``luong_general``."""
    if kind == "bahdanau":
        return BahdanauAttention(units=units, dropout=dropout, name=name)
    if kind in ("luong_dot", "luong_general"):
        return LuongAttention(score=kind.split("_", 1)[1], dropout=dropout, name=name)
    raise ValueError(f"attention must be one of {', '.join(ATTENTION_TYPES)}, got {kind!r}")
