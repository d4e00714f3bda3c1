"""The tagger's in-graph token features: they take raw token strings, so the exported model needs no
project code to look words up (TensorFlow string ops: the suite runs Keras on TensorFlow).

Registered under their class names: moving them here keeps older ``model.keras`` files loadable.
"""
from __future__ import annotations

import keras
import tensorflow as tf

PAD = ""  # the padding token of a batch of token strings
CASING_PATTERNS = [  # (name, RE2 pattern); the first full match wins, ids follow this order from 2
    ("numeric", r"\PL*\d\PL*"),
    ("all_upper", r"[^\p{Ll}]*\p{Lu}[^\p{Ll}]*"),
    ("initial_upper", r"\p{Lu}.*"),
    ("has_digit", r".*\d.*"),
    ("lower", r"\p{Ll}+"),
    ("mixed", r".*\pL.*"),
]


@keras.saving.register_keras_serializable(package="rnnsuite")
class Lowercase(keras.layers.Layer):
    """Unicode-aware lower-casing of token strings (the vocabulary is fitted with the same op)."""

    def call(self, tokens):
        return tf.strings.lower(tokens, encoding="utf-8")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rnnsuite")
class Casing(keras.layers.Layer):
    """Token strings -> casing class ids (0 padding, 1 other, then `CASING_PATTERNS` in order), the
    information a lower-cased vocabulary loses."""

    def call(self, tokens):
        ids = tf.ones_like(tokens, dtype=tf.int32)
        for index, (_, pattern) in reversed(list(enumerate(CASING_PATTERNS, start=2))):
            ids = tf.where(tf.strings.regex_full_match(tokens, pattern), index, ids)
        return tf.where(tf.equal(tokens, PAD), 0, ids)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rnnsuite")
class TokenMask(keras.layers.Layer):
    """Pass features through with the mask "word id is not padding (0)".

    Keras' ``Concatenate`` ORs the masks of its inputs (an unmasked input counts as
    all-true), so the word mask is lost when char and casing features join; this
    puts it back before the recurrent layers.
    """

    def call(self, inputs):
        return inputs[0]

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs[1], 0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]
