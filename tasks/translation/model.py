"""Encoder-decoder translation model with attention: the training graph and the decoding step.

Training graph (`build_seq2seq`, a Keras functional model, so ``model.keras``
reloads with no custom code path): source ids -> embedding -> the shared
`RecurrentBlock` encoder (stacked, bidirectional, masked) whose final states are
bridged (Dense + tanh) to the decoder's initial state. The decoder reads the gold
target prefix (teacher forcing) and comes in two kinds:

- ``feed_context`` (the default): a `ContextFeedingDecoder` (Bahdanau et al., 2015).
  At each step the previous state queries the encoder outputs and the context is fed
  into the GRU/LSTM cell with the input embedding, so the state knows what it has
  already attended to (fewer repeated phrases); training runs step by step.
- ``feed_context=False``: a GRU/LSTM run over the whole target sequence at once, each
  output ``h_t`` then querying the encoder outputs (Luong et al., 2015); attention does
  not feed back into the RNN, so all target steps are one sequence op (faster on a CPU).

Either way the "attentional hidden state" ``tanh(W [context; h_t])`` (Luong et al.)
gives the vocabulary logits, optionally through the transposed target embedding
(tied embeddings, `common.layers.reversible_embedding`); ``attention`` picks the
score function (Bahdanau additive, Luong dot or general).

Scheduled sampling (Bengio et al., 2015) is the two-pass, parallel variant of
Mihaylova & Martins (2019): a first teacher-forced pass predicts every token,
then each gold input token is replaced by the model's own prediction with
probability ``scheduled_sampling`` (`tasks.translation.layers.ScheduledSampling`)
and the second pass gives the logits.

Decoding (`Seq2SeqInference`) reuses the trained layers one step at a time
through the step-function interface of `common.layers.decoding`, so greedy and beam
search run inside a `tf.function` and the exported SavedModel.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from common.layers.attention import make_attention
from common.layers.attentive_decoder import ContextFeedingDecoder
from common.layers.decoding import beam_search, greedy_search
from common.layers.recurrent import IMPLEMENTATIONS, RecurrentBlock
from common.layers.reversible_embedding import ReversibleEmbedding
from common.precision import float32_output
from tasks.translation.config import DECODER_CELLS
from tasks.translation.data import PAD_ID
from tasks.translation.layers import ScheduledSampling


@keras.saving.register_keras_serializable(package="rnnsuite")
class MaskedSequenceLoss(keras.losses.Loss):
    """Token cross-entropy averaged over non-padding target tokens, with optional label smoothing.

    Keras' sparse cross-entropy has no label smoothing, and its mask-based averaging
    depends on masks surviving every layer, so the masking is explicit here.
    """

    def __init__(self, label_smoothing=0.0, name="masked_sequence_loss", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(ops.not_equal(y_true, PAD_ID), y_pred.dtype)
        if self.label_smoothing:
            one_hot = ops.one_hot(y_true, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
            losses = keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=True,
                                                           label_smoothing=self.label_smoothing)
        else:
            losses = keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)
        # "sum" reduction of loss * mask / n_tokens is the mean over real tokens.
        return losses * mask / ops.maximum(ops.sum(mask), 1.0)

    def get_config(self):
        return {"name": self.name, "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="rnnsuite")
class MaskedTokenAccuracy(keras.metrics.Mean):
    """Share of non-padding target tokens predicted exactly (teacher forced)."""

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        correct = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y_true), "float32")
        return super().update_state(correct, sample_weight=ops.cast(ops.not_equal(y_true, PAD_ID), "float32"))

    def get_config(self):
        return {"name": self.name}


def build_seq2seq(source_vocab_size: int, target_vocab_size: int, *, embedding_dim=128,
                  encoder: dict | None = None, decoder_cell="gru", decoder_units=256,
                  attention="bahdanau", attention_units=128, dropout=0.2, tie_embeddings=False,
                  scheduled_sampling=0.0, feed_context=True, seed=None,
                  implementation="auto") -> keras.Model:
    """The teacher-forced training model: ``{"source", "target_in"}`` ids -> logits ``[b, T, vocab]``.

    ``encoder`` holds `RecurrentBlock` keyword arguments (cell, units, num_layers,
    bidirectional, dropout, ...); ``implementation`` picks the decoder RNN's
    (`common.layers.IMPLEMENTATIONS`: the fast CPU GRU by default) when ``feed_context`` is
    false. With ``feed_context`` (the default, as ``model.feed_context`` in the config) the
    decoder is a `ContextFeedingDecoder` (attention from the previous state, context fed into
    the cell) instead of an RNN whose outputs query the attention. Layer names are fixed:
    `Seq2SeqInference` finds the layers by name to build the decoding step.
    """
    if decoder_cell not in DECODER_CELLS:
        raise ValueError(f"decoder_cell must be one of {', '.join(DECODER_CELLS)}, got {decoder_cell!r}")
    source = keras.Input((None,), dtype="int32", name="source")
    target_in = keras.Input((None,), dtype="int32", name="target_in")

    x = keras.layers.Embedding(source_vocab_size, embedding_dim, mask_zero=True, name="source_embedding")(source)
    x = keras.layers.Dropout(dropout, name="source_dropout")(x)
    memory, *encoder_states = RecurrentBlock(return_sequences=True, return_state=True, name="encoder",
                                             **(encoder or {}))(x)
    source_mask = ops.not_equal(source, PAD_ID)
    bridge_in = (keras.layers.Concatenate(name="bridge_concat")(encoder_states)
                 if len(encoder_states) > 1 else encoder_states[0])
    n_states = 2 if decoder_cell == "lstm" else 1
    decoder_state = [keras.layers.Dense(decoder_units, activation="tanh", name=f"bridge_{i}")(bridge_in)
                     for i in range(n_states)]
    if attention == "luong_dot" and memory.shape[-1] != decoder_units:
        # Dot scores need equal widths; a bidirectional encoder is twice as wide as the decoder.
        memory = keras.layers.Dense(decoder_units, name="memory_projection")(memory)

    embedding_cls = ReversibleEmbedding if tie_embeddings else keras.layers.Embedding
    target_embedding = embedding_cls(target_vocab_size, embedding_dim, mask_zero=True, name="target_embedding")
    target_dropout = keras.layers.Dropout(dropout, name="target_dropout")
    if feed_context:
        decoder = ContextFeedingDecoder(decoder_cell, decoder_units, attention, attention_units,
                                        name="decoder_rnn")
    else:
        rnn = IMPLEMENTATIONS[implementation][decoder_cell](decoder_units, return_sequences=True,
                                                            name="decoder_rnn")
        attend = make_attention(attention, units=attention_units, name="attention")
    concat = keras.layers.Concatenate(name="attention_concat")
    attentional = keras.layers.Dense(embedding_dim if tie_embeddings else decoder_units, activation="tanh",
                                     use_bias=False, name="attentional")
    output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
    output = None if tie_embeddings else keras.layers.Dense(target_vocab_size, name="logits")

    def decode(tokens):
        embedded = target_dropout(target_embedding(tokens))
        if feed_context:
            h, context = decoder(embedded, memory, initial_state=decoder_state, source_mask=source_mask)
        else:
            h = rnn(embedded, initial_state=decoder_state)
            context, _ = attend(h, memory, source_mask=source_mask)
        hidden = output_dropout(attentional(concat([context, h])))
        return target_embedding(hidden, reverse=True) if tie_embeddings else output(hidden)

    logits = decode(target_in)
    if scheduled_sampling > 0:
        mixed = ScheduledSampling(scheduled_sampling, seed=seed, name="scheduled_sampling")([target_in, logits])
        logits = decode(mixed)
    return keras.Model({"source": source, "target_in": target_in}, float32_output(logits, "logits_float32"),
                       name="seq2seq")


class Seq2SeqInference:
    """Encoder and one decoder step made of a trained `build_seq2seq` model's own layers.

    ``encode(source_ids)`` -> ``(initial_state, constants)``; ``step(tokens, state,
    constants)`` -> ``(logits, new_state)`` is the `common.layers.decoding` step function.
    Padding, the start token and ``banned_ids`` (a subword model's unknown piece) are never emitted.
    """

    def __init__(self, model: keras.Model, start_id: int, end_id: int, banned_ids=()):
        names = {layer.name for layer in model.layers}
        get = model.get_layer
        self.source_embedding = get("source_embedding")
        self.encoder = get("encoder")
        self.bridges = sorted((layer for layer in model.layers if layer.name.startswith("bridge_")
                               and layer.name != "bridge_concat"), key=lambda layer: layer.name)
        self.memory_projection = get("memory_projection") if "memory_projection" in names else None
        self.target_embedding = get("target_embedding")
        self.decoder = get("decoder_rnn")
        self.feeds_context = isinstance(self.decoder, ContextFeedingDecoder)
        self.cell = self.decoder.cell
        self.attention = self.decoder.attention if self.feeds_context else get("attention")
        self.attentional = get("attentional")
        self.output = get("logits") if "logits" in names else None
        self.start_id, self.end_id = start_id, end_id
        vocab = self.target_embedding.input_dim
        banned = tf.one_hot([PAD_ID, start_id, *banned_ids], vocab, dtype=tf.float32)
        self.banned = tf.reduce_sum(banned, axis=0) * -1e9

    def encode(self, source_ids):
        source_ids = tf.convert_to_tensor(source_ids, tf.int32)
        mask = tf.not_equal(source_ids, PAD_ID)
        memory, *states = self.encoder(self.source_embedding(source_ids), mask=mask, training=False)
        if self.memory_projection is not None:
            memory = self.memory_projection(memory)
        bridge_in = tf.concat(states, axis=-1) if len(states) > 1 else states[0]
        initial = [bridge(bridge_in) for bridge in self.bridges]
        return initial, (memory, self.attention.project_keys(memory), mask)

    def step(self, tokens, state, constants, return_weights=False):
        memory, keys, mask = constants
        x = tf.gather(self.target_embedding.embeddings, tokens)  # a plain lookup: no Keras mask to drop
        if self.feeds_context:
            h, context, state, weights = self.decoder.step(x, state, memory, keys, mask)
        else:
            h, state = self.cell(x, list(state), training=False)
            context, weights = self.attention(h, memory, keys=keys, source_mask=mask)
        hidden = self.attentional(tf.concat([context, h], axis=-1))
        logits = (self.target_embedding(hidden, reverse=True) if self.output is None
                  else self.output(hidden))
        logits = tf.cast(logits, tf.float32) + self.banned  # bfloat16 in a mixed_bfloat16 model
        state = list(state) if isinstance(state, (list, tuple)) else [state]
        if return_weights:
            return logits, state, weights
        return logits, state

    def translate_ids(self, source_ids, *, max_length, beam_width=1, alpha=0.0):
        """Decode a batch of source ids: beam search, or greedy when ``beam_width`` is 1."""
        state, constants = self.encode(source_ids)
        common = dict(start_id=self.start_id, end_id=self.end_id, max_length=max_length)
        if beam_width <= 1:
            return greedy_search(self.step, state, constants, **common)
        return beam_search(self.step, state, constants, beam_width=beam_width, alpha=alpha, **common)

    def attention_map(self, source_ids, output_ids):
        """Attention weights ``[len(output_ids) + 1, source_len]`` when the decoder is fed
        ``output_ids`` (one sentence, eager); the last row is the step that emits the end token."""
        state, constants = self.encode(tf.constant([source_ids], tf.int32))
        rows = []
        for token in [self.start_id] + list(output_ids):
            _, state, weights = self.step(tf.constant([token], tf.int32), state, constants, return_weights=True)
            rows.append(weights[0].numpy())
        return rows
