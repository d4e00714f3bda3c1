"""The language models in a task's model: their weights copied into its embedding and recurrent block
(`assign_encoder`, ``pretrained_as: init``, ULMFiT), or run frozen beside its own encoder
(`language_model_features`, ``pretrained_as: features``, ELMo / TagLM)."""
from __future__ import annotations

import keras
import numpy as np

from common.pretrained.encoder import PretrainedEncoder


def _copy_cell(layer, weights: list[np.ndarray], row: int, other_rows_zero: bool) -> None:
    """LM cell weights into ``layer``, whose kernel may read a wider input: the LM's kernel goes into rows
    ``row:row + n``; the other rows are zeroed (the other direction's outputs, so the layer computes what
    the LM's did) or kept (the task's own extra features, e.g. NER's characters and casing)."""
    current = layer.get_weights()
    kernel = np.zeros_like(current[0]) if other_rows_zero else current[0].copy()
    kernel[row:row + weights[0].shape[0]] = weights[0]
    layer.set_weights([kernel, *weights[1:]])


def assign_encoder(embedding, block, encoder: PretrainedEncoder) -> None:
    """Copy the LM weights into a built Embedding and `RecurrentBlock` (forward LM into the forward layers,
    backward LM into a bidirectional block's backward layers)."""
    embedding.embeddings.assign(encoder.embeddings)
    _assign_recurrent(block, encoder, side_by_side=False)


def _assign_recurrent(block, encoder: PretrainedEncoder, side_by_side: bool) -> None:
    """The LMs' cells and norms into ``block``. Above the first layer a bidirectional layer reads both
    directions' outputs, so each direction's kernel gets its LM's rows and zeros for the other's. In the
    first layer, with ``side_by_side`` embeddings (`side_by_side_embeddings`) each direction reads its
    own half the same way; otherwise both read the whole input (the shared embedding, and the task's own
    extra features, whose rows stay as they are)."""
    width = encoder.forward.embeddings.shape[1]
    for i, rnn in enumerate(block.rnns):
        if isinstance(rnn, keras.layers.Bidirectional):
            zero = side_by_side or i > 0
            _copy_cell(rnn.forward_layer, encoder.forward.cells[i], 0, other_rows_zero=zero)
            if encoder.backward is not None:
                row = block.units if i else (width if side_by_side else 0)
                _copy_cell(rnn.backward_layer, encoder.backward.cells[i], row, other_rows_zero=zero)
        else:
            _copy_cell(rnn, encoder.forward.cells[i], 0, other_rows_zero=False)
    for norm, weights in zip(block.norms, encoder.forward.norms):
        norm.set_weights(weights)


def language_model_features(ids, encoder: PretrainedEncoder, implementation: str = "auto", prefix: str = "lm"):
    """ELMo / TagLM: the language models' top-layer states for each token of ``ids`` (ids into the rows of
    ``encoder.embeddings``, 0 = padding), forward and backward concatenated ``[batch, time, units x
    directions]``, from a frozen embedding and recurrent block (``<prefix>_embedding``,
    ``<prefix>_recurrent``) holding the LMs' weights.
    The task concatenates them to its word features; no gradient reaches the language models.

    Each direction reads its own LM's word vectors: the embedding holds both side by side, and the first
    layer's forward kernel reads the first half, the backward kernel the second (the other rows zero)."""
    from common.layers.recurrent import RNNConfig, recurrent_block

    forward, backward = encoder.forward, encoder.backward
    embedding = keras.layers.Embedding(*encoder.embeddings.shape, mask_zero=True, trainable=False,
                                       name=f"{prefix}_embedding")
    rnn = RNNConfig(cell=forward.cell, units=forward.units, layers=len(forward.cells),
                    bidirectional=backward is not None, layer_norm=bool(forward.norms),
                    implementation=implementation)
    block = recurrent_block(rnn, return_sequences=True, name=f"{prefix}_recurrent")
    states = block(embedding(ids))
    embedding.embeddings.assign(encoder.embeddings)
    _assign_recurrent(block, encoder, side_by_side=True)
    block.trainable = False
    return states

