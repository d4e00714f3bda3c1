"""Character-level word encoders: one vector per word from its characters.

Words never seen in training still have characters, so these features carry
much of a tagger's accuracy on unseen names (Lample et al. 2016 use a char
BiLSTM, Ma & Hovy 2016 a char CNN; both are here behind one config switch).
Input: char ids ``[batch, words, chars]`` with 0 for padding (a padded word is
all zeros). Output: ``[batch, words, features]``; padded words give zeros. The
word mask comes from the word embedding, so these layers produce none.
"""
from __future__ import annotations

import keras
from keras import ops


class _CharEncoder(keras.layers.Layer):
    mask_chars = True  # whether the char embedding masks padding for the encoder

    def __init__(self, num_chars, char_dim=30, **kwargs):
        super().__init__(**kwargs)
        self.num_chars = num_chars
        self.char_dim = char_dim
        self.embedding = keras.layers.Embedding(num_chars, char_dim, mask_zero=self.mask_chars,
                                                name="char_embedding")

    def call(self, chars, training=None):
        shape = ops.shape(chars)
        flat = ops.reshape(chars, (-1, shape[2]))  # one row per word
        encoded = self.encode(flat, training=training)
        return ops.reshape(encoded, (shape[0], shape[1], self.output_dim))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(num_chars=self.num_chars, char_dim=self.char_dim)
        return config


@keras.saving.register_keras_serializable(package="rnnsuite")
class CharBiLSTM(_CharEncoder):
    """Final forward and backward states of a BiLSTM over each word's characters (Lample et al.)."""

    def __init__(self, num_chars, char_dim=30, units=25, **kwargs):
        super().__init__(num_chars, char_dim, **kwargs)
        self.units = units
        self.output_dim = 2 * units
        self.rnn = keras.layers.Bidirectional(keras.layers.LSTM(units), name="char_bilstm")

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.rnn.build((None, input_shape[-1], self.char_dim))
        self.built = True

    def encode(self, flat, training=None):
        return self.rnn(self.embedding(flat), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


@keras.saving.register_keras_serializable(package="rnnsuite")
class CharCNN(_CharEncoder):
    """Max over positions of a 1-D convolution across each word's characters (Ma & Hovy)."""

    mask_chars = False  # Conv1D takes no mask: padding is excluded from the max instead

    def __init__(self, num_chars, char_dim=30, filters=30, kernel_size=3, **kwargs):
        super().__init__(num_chars, char_dim, **kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.output_dim = filters
        self.conv = keras.layers.Conv1D(filters, kernel_size, padding="same", activation="tanh",
                                        name="char_conv")

    def build(self, input_shape):
        self.embedding.build((None, input_shape[-1]))
        self.conv.build((None, input_shape[-1], self.char_dim))
        self.built = True

    def encode(self, flat, training=None):
        features = self.conv(self.embedding(flat))
        present = ops.expand_dims(ops.greater(flat, 0), -1)
        pooled = ops.max(ops.where(present, features, -1e9), axis=1)
        return ops.where(ops.any(present, axis=1), pooled, 0.0)  # an all-padding word gives zeros

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size)
        return config


def char_encoder(kind: str, num_chars: int, char_dim: int, units: int, name="char_encoder"):
    """The encoder a config names: ``bilstm`` (``units`` per direction) or ``cnn`` (``units`` filters)."""
    if kind == "bilstm":
        return CharBiLSTM(num_chars, char_dim, units, name=name)
    if kind == "cnn":
        return CharCNN(num_chars, char_dim, units, name=name)
    raise ValueError(f"unknown char encoder {kind!r}; use bilstm or cnn")


@keras.saving.register_keras_serializable(package="rnnsuite")
class CharIds(keras.layers.Layer):
    """Token strings ``[batch, words]`` -> char ids ``[batch, words, max_chars]`` inside the graph.

    Characters are Unicode code points (invalid UTF-8 bytes become U+FFFD); words are
    cut to ``max_chars`` and padded with 0. Ids: 0 padding, 1 unknown character, then
    ``vocabulary``. Living in the model, the lookup travels with ``model.keras`` and
    the SavedModel, so serving needs no Python preprocessing. (TensorFlow ops: the
    suite runs Keras on the TensorFlow backend.)
    """

    def __init__(self, vocabulary, max_chars=20, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.max_chars = int(max_chars)
        self.lookup = keras.layers.StringLookup(vocabulary=self.vocabulary, mask_token="",
                                                num_oov_indices=1, name="char_lookup")

    def build(self, input_shape=None):
        self.built = True  # the lookup table is fixed at construction; nothing to create here

    def call(self, tokens):
        import tensorflow as tf

        chars = tf.strings.unicode_split(tokens, "UTF-8", errors="replace")
        dense = chars.to_tensor(default_value="", shape=[None, None, self.max_chars])
        return tf.cast(self.lookup(dense), "int32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.max_chars)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(vocabulary=self.vocabulary, max_chars=self.max_chars)
        return config
