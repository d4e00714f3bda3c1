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


@keras.saving.register_keras_serializable(package="rnnsuite")
class SentenceChars(keras.layers.Layer):
    """Token strings ``[batch, words]`` -> the sentence as a character language model reads a line,
    a newline, the words joined by spaces, a newline, as ids ``[batch, chars]`` (0 padding, 1 unknown
    character, then ``vocabulary``: the LM's entries after its padding and unknown ones), and each word's
    first and last character positions ``[batch, words]`` (0 for padding words), for `WordEdges`."""

    def __init__(self, vocabulary, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, mask_token="", num_oov_indices=1,
                                                name="sentence_char_lookup")

    def build(self, input_shape=None):
        self.built = True  # the lookup table is fixed at construction

    def call(self, tokens):
        valid = tf.not_equal(tokens, PAD)
        lengths = tf.strings.length(tokens, unit="UTF8_CHAR")
        first = 1 + tf.cumsum(lengths + 1, axis=1, exclusive=True)  # after the leading newline
        last = first + tf.maximum(lengths - 1, 0)
        joined = tf.strings.reduce_join(tf.ragged.boolean_mask(tokens, valid), axis=-1, separator=" ")
        text = tf.strings.join(["\n", joined, "\n"])
        chars = tf.strings.unicode_split(text, "UTF-8", errors="replace").to_tensor(default_value=PAD)
        zero = tf.zeros_like(first)
        return (tf.cast(self.lookup(chars), "int32"), tf.where(valid, first, zero), tf.where(valid, last, zero))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None), input_shape, input_shape

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary}


@keras.saving.register_keras_serializable(package="rnnsuite")
class WordEdges(keras.layers.Layer):
    """Per-character states ``[batch, chars, 2 x units]`` (forward, then backward) -> per-word features
    ``[batch, words, 2 x units]``: the forward state after the word's last character and the backward
    state at its first (so each has read the whole word and its context on one side; Akbik et al. 2018)."""

    def call(self, inputs):
        states, first, last = inputs
        units = tf.shape(states)[-1] // 2
        forward = tf.gather(states[..., :units], last, batch_dims=1)
        backward = tf.gather(states[..., units:], first, batch_dims=1)
        return tf.concat([forward, backward], axis=-1)

    def compute_output_shape(self, input_shape):
        states, first, _ = input_shape
        return (*first, states[-1])

    def compute_mask(self, inputs, mask=None):
        return None
