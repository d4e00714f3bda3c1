"""Word dropout: while training, replace a share of known word ids by the unknown-word id.

A word embedding only learns its unknown-word vector from tokens that are out of
vocabulary in the training data, which are few (the vocabulary is fitted on that
data). Dropping known words to the unknown id during training (Lample et al. 2016)
teaches the model what to do with a word it has never seen, and keeps it from
leaning on the word identity alone. Any word-level model can use it in front of
its embedding (the NER tagger does); it is a no-op at inference.
"""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="rnnsuite")
class WordDropout(keras.layers.Layer):
    """Ids ``> 1`` become 1 (the unknown word) with probability ``rate`` while training; padding (0)
    and unknown ids are left alone, so ``mask_zero`` embeddings still mask the same positions."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, ids, training=None):
        if not training or self.rate == 0:
            return ids
        drop = keras.random.uniform(tf.shape(ids), seed=self.seed_generator) < self.rate
        return tf.where(tf.logical_and(drop, ids > 1), tf.ones_like(ids), ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
