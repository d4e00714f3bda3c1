"""Tied input and output embeddings: one matrix embeds tokens and, transposed, scores the vocabulary.

Sharing the embedding with the output layer (Press & Wolf, 2017; Inan et al., 2017)
removes the largest weight matrix of a word-level decoder or language model and
usually improves perplexity, because every output word's vector is trained by its
uses as input as well. The translation decoder uses it (``model.tie_embeddings``)
and so does any other model that predicts the words it reads.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnsuite")
class ReversibleEmbedding(keras.layers.Embedding):
    """An embedding whose matrix, transposed, also maps hidden vectors to vocabulary logits.

    ``layer(ids)`` embeds; ``layer(hidden, reverse=True)`` returns ``hidden @ E^T + b``
    (``hidden`` must have ``output_dim`` features). The reverse call passes the hidden
    states' mask through. (KerasHub has the same idea as ``keras_hub.layers.ReversibleEmbedding``;
    written here so the suite does not depend on KerasHub.)
    """

    def build(self, input_shape=None):
        super().build(input_shape)
        self.logit_bias = self.add_weight(shape=(self.input_dim,), initializer="zeros", name="logit_bias")

    @property
    def variable_serialization_spec(self):
        spec = dict(super().variable_serialization_spec)
        spec[None] = list(spec[None]) + ["logit_bias"]  # so model.keras saves the bias too
        return spec

    def call(self, inputs, reverse=False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(self.embeddings)) + self.logit_bias
        return super().call(inputs)

    def compute_mask(self, inputs, mask=None):
        if "float" in str(inputs.dtype):  # reverse call: pass the hidden states' mask through
            return mask
        return super().compute_mask(inputs, mask)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            return keras.KerasTensor((*inputs.shape[:-1], self.input_dim), dtype=self.compute_dtype)
        return keras.KerasTensor((*inputs.shape, self.output_dim), dtype=self.compute_dtype)
