"""A linear layer over n-gram indicators scaled by naive-Bayes log-count ratios: NBSVM as a Keras layer.

Wang & Manning (2012) showed that a linear classifier over binary word n-grams, each scaled by its
log-count ratio r (how much more often the n-gram occurs in one class's documents than in the others'),
is hard to beat on sentiment; on long documents such as IMDB reviews it beats recurrent models trained
from scratch. As a layer it computes ``x @ (ratios * kernel) + bias`` from sparse indicators, so a
model that takes raw strings can carry it beside a recurrent path and export both in one graph (the
sentiment classifier's wide path fits kernel and bias with scikit-learn and freezes the layer).

No maintained library ships this layer (NBSVM's reference implementations are unpackaged scripts), so it
is written here: a few lines of sparse matrix product.
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="rnnsuite")
class NaiveBayesLinear(keras.layers.Layer):
    """``[batch, features]`` indicators (a ``tf.SparseTensor`` or dense) -> ``[batch, units]`` logits
    ``x @ (ratios * kernel) + bias``. ``ratios`` ``[features, units]`` (one column of one-vs-rest
    log-count ratios per class) never train; kernel and bias start at zero, so the layer adds nothing
    until they are trained or set.

    Float32 unless a ``dtype`` is given, also in a ``mixed_bfloat16`` model: its weights are fitted
    outside Keras in float32 and it sits at the output (a sparse product that costs next to nothing), so
    bfloat16's 8-bit mantissa would only blur the logits the blend weights were fitted on."""

    def __init__(self, units, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        features = int(input_shape[-1])
        self.ratios = self.add_weight(shape=(features, self.units), initializer="zeros", trainable=False,
                                      name="ratios")
        self.kernel = self.add_weight(shape=(features, self.units), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x):
        weights = tf.cast(self.ratios * self.kernel, self.compute_dtype)
        if isinstance(x, tf.SparseTensor):
            logits = tf.sparse.sparse_dense_matmul(tf.cast(x, self.compute_dtype), weights)
        else:
            logits = tf.matmul(tf.cast(x, self.compute_dtype), weights)
        return logits + tf.cast(self.bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
