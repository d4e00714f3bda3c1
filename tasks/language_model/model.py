"""The language model: token ids in, next-token logits out, and its inference graph.

``embedding`` -> optional embedding dropout -> ``recurrent`` (`StatefulRecurrent`,
the shared ``model.rnn`` section) -> optional locked dropout -> logits over the
vocabulary, either a ``logits`` Dense layer or, with ``model.tie_embeddings``, the
embedding matrix transposed (after a ``projection`` when the sizes differ). The
layer names are stable so that the embedding and recurrent weights can be copied
into other tasks' encoders. With ``model.sampled_softmax`` the training step scores
the targets against a sample of the vocabulary (`LanguageModel`, `sampled`).

In ``stream`` batching the model has the fixed batch size ``train.batch_size``
(one row per parallel stream) and carries its state between calls; in ``line``
batching it starts every call from zeros. `LanguageModelGraph` runs the same
weights with explicit states for scoring and generation on any batch.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from common.layers.decoding import beam_search, sample_search
from common.layers.reversible_embedding import ReversibleEmbedding
from common.precision import float32_output
from tasks.language_model.data import BOUNDARY_ID, PAD_ID
from tasks.language_model.layers import StatefulRecurrent
from tasks.language_model.ngram import unigram_probabilities
from tasks.language_model.sampled import sampled_softmax_loss


def build_language_model(config, vocabulary_size: int, train_ids=None) -> keras.Model:
    """The training model; with ``train_ids`` (the training stream) the output bias starts at the
    training unigram distribution (`unigram_bias`)."""
    m, rnn = config.model, config.model.rnn
    stateful = config.data.batching == "stream"
    batch = config.train.batch_size if stateful else None
    tokens = keras.Input(shape=(None,), batch_size=batch, dtype="int32", name="tokens")
    if m.tie_embeddings:
        embedding = ReversibleEmbedding(vocabulary_size, m.embedding_dim, mask_zero=True, name="embedding")
    else:
        embedding = keras.layers.Embedding(vocabulary_size, m.embedding_dim, mask_zero=True, name="embedding")
    x = embedding(tokens)
    if m.embedding_dropout:
        x = keras.layers.Dropout(m.embedding_dropout, noise_shape=(None, None, 1), name="embedding_dropout")(x)
    x = StatefulRecurrent(rnn.cell, rnn.units, rnn.layers, rnn.dropout, rnn.recurrent_dropout, rnn.layer_norm,
                          rnn.implementation, batch_size=batch, name="recurrent")(x)
    if m.output_dropout:
        x = keras.layers.Dropout(m.output_dropout, noise_shape=(None, 1, rnn.units), name="output_dropout")(x)
    if m.tie_embeddings:
        if rnn.units != m.embedding_dim:
            x = keras.layers.Dense(m.embedding_dim, name="projection")(x)
        logits = embedding(x, reverse=True)
    else:
        logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    model = LanguageModel(tokens, float32_output(logits, "logits_float32"), name="language_model", features=x,
                          sampled=m.sampled_softmax, sample_seed=config.seed)
    if train_ids is not None:
        _, bias = model.output_layer()
        bias.assign(unigram_bias(train_ids, vocabulary_size))
    return model


@keras.saving.register_keras_serializable(package="rnnsuite")
class LanguageModel(keras.Model):
    """The functional language model (ids in, logits out), whose training step can use a sampled softmax.

    With ``sampled`` > 0 and ``features`` (the output layer's input tensor), `train_step` never
    computes the full logits: it scores each target against ``sampled`` words drawn from
    (``sample_seed``, optimizer step) (`sampled.sampled_softmax_loss`). Everything else (validation
    loss, evaluation, export) runs the full graph. A model loaded from ``model.keras`` is the plain
    functional model again (``sampled`` 0); a resumed run is rebuilt from the config.
    """

    def __init__(self, *args, features=None, sampled: int = 0, sample_seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.sampled, self.sample_seed = sampled, sample_seed
        # A second functional view of the same layers (ids -> features), kept off Keras' tracking
        # on purpose: a tracked sub-model would save every weight twice.
        view = keras.Model(self.inputs, features, name="features") if sampled and features is not None else None
        object.__setattr__(self, "_features_view", view)

    def output_layer(self):
        """``(rows, bias)``: ``rows(ids)`` gives those words' output weights ``[len(ids), d]`` (the
        ``logits`` kernel's columns, or the tied embedding's rows); ``bias`` is ``[V]``."""
        if "logits" in {layer.name for layer in self.layers}:
            dense = self.get_layer("logits")
            return (lambda ids: tf.transpose(tf.gather(dense.kernel, ids, axis=1))), dense.bias
        embedding = self.get_layer("embedding")
        return (lambda ids: tf.gather(embedding.embeddings, ids)), embedding.logit_bias

    def train_step(self, data):
        if self._features_view is None:
            return super().train_step(data)
        tokens, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            features = self._features_view(tokens, training=True)
            # the size from the tensor, not its static shape: some recurrent paths leave that unknown
            flat = tf.reshape(tf.cast(features, tf.float32), [-1, tf.shape(features)[-1]])
            flat_targets = tf.reshape(tf.cast(targets, tf.int32), [-1])
            rows, biases = self.output_layer()
            seed = tf.stack([tf.constant(self.sample_seed, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
            losses = sampled_softmax_loss(flat, flat_targets, rows, biases, int(biases.shape[0]), self.sampled, seed)
            real = tf.cast(tf.not_equal(flat_targets, PAD_ID), tf.float32)
            loss = tf.reduce_sum(losses * real) / tf.maximum(tf.reduce_sum(real), 1.0)
            if self.losses:
                loss += tf.add_n(self.losses)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
        return {metric.name: metric.result() for metric in self.metrics}


def unigram_bias(train_ids, vocabulary_size: int) -> np.ndarray:
    """Log add-one unigram probabilities of the training tokens (`unigram_probabilities`), the output
    bias to start from.

    Why: from a zero bias, Adam moves each logit by about the learning rate per step, so a
    word-level model spends its first thousands of steps (a large part of a CPU budget) only
    learning word frequencies, stuck near unigram perplexity; starting there, training works
    on context from the first step (Karpathy's "init well"; the bias of the output layer
    equals the data's log-frequencies).
    """
    return np.log(unigram_probabilities(train_ids, vocabulary_size)).astype("float32")


class LossInUnits(keras.callbacks.Callback):
    """Adds the epoch's loss in the task's units to the logs (and so to history.csv and the learning
    curves): ``perplexity`` / ``val_perplexity`` for words, ``bits_per_char`` / ``val_bits_per_char``
    for characters. Computed from Keras' mean loss per window, so it is a curve, not the exact
    token-weighted metric `evaluate` reports. With a ``sampled`` softmax the training loss is the
    sampled one, not a perplexity, so only the validation loss is converted."""

    def __init__(self, granularity: str, sampled: bool = False):
        super().__init__()
        self.granularity, self.prefixes = granularity, ("val_",) if sampled else ("", "val_")

    def _convert(self, loss):
        if self.granularity == "word":
            return math.exp(min(loss, 50.0))
        return loss / math.log(2.0)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        name = "perplexity" if self.granularity == "word" else "bits_per_char"
        for prefix in self.prefixes:
            if f"{prefix}loss" in logs:
                logs[f"{prefix}{name}"] = self._convert(float(logs[f"{prefix}loss"]))


class LanguageModelGraph:
    """The trained weights as TensorFlow functions with explicit states, on any batch size.

    ``run(ids, states)`` reads padded ids ``[batch, time]`` (``PAD_ID`` masked: the state is
    carried through padding) and returns logits and the final states; `log_likelihood` scores
    whole sequences; `generate` continues them with sampling or beam search.
    """

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("embedding")
        self.recurrent = model.get_layer("recurrent")
        names = {layer.name for layer in model.layers}
        self.projection = model.get_layer("projection") if "projection" in names else None
        self.output = model.get_layer("logits") if "logits" in names else None

    def logits(self, hidden):
        if self.output is not None:
            return self.output(hidden)
        if self.projection is not None:
            hidden = self.projection(hidden)
        return self.embedding(hidden, reverse=True)

    def run(self, ids, states):
        x = tf.gather(self.embedding.embeddings, ids)
        hidden, states = self.recurrent.forward(x, states, mask=tf.not_equal(ids, PAD_ID), training=False)
        return tf.cast(self.logits(hidden), tf.float32), states

    def log_likelihood(self, ids):
        """Per row of ``ids`` ``[batch, time]`` (each ``[boundary] + tokens``, padded): the summed
        log-probability of every token after the first, and how many tokens that is."""
        inputs, targets = ids[:, :-1], ids[:, 1:]
        logits, _ = self.run(inputs, self.recurrent.zero_states(tf.shape(ids)[0]))
        log_probs = tf.gather(tf.nn.log_softmax(logits, axis=-1), targets, batch_dims=2)
        real = tf.cast(tf.not_equal(targets, PAD_ID), tf.float32)
        return tf.reduce_sum(log_probs * real, axis=1), tf.reduce_sum(real, axis=1)

    def generate(self, ids, lengths, max_tokens, temperature=1.0, top_k=0, top_p=1.0, seed=0, beam_width=1,
                 end_id=-1):
        """Continue every prompt ``ids[i, :lengths[i]]`` (each ``[boundary] + tokens``, so ``lengths >= 1``).

        The prompt but its last token is read first; the search then starts from that last
        token (handed to the first step through the state, since the shared searches start
        every row from one fixed token). Padding never comes out: its logit is removed. A row
        stops when it produces ``end_id`` (left out of the tokens) or after ``max_tokens``; the
        loop stops when every row has, so a batch of short texts costs short loops. -1: no
        end token (a character model's boundary, the newline, is text, not an end).
        """
        batch = tf.shape(ids)[0]
        prefix = tf.where(tf.range(tf.shape(ids)[1])[tf.newaxis] < (lengths - 1)[:, tf.newaxis], ids, PAD_ID)
        _, states = self.run(prefix, self.recurrent.zero_states(batch))
        last = tf.gather(ids, lengths - 1, batch_dims=1)
        start = (self.recurrent.flat_states(states), last, tf.ones([batch], tf.bool))

        def step(tokens, state, constants):
            flat, pending, first = state
            tokens = tf.where(first, pending, tokens)
            logits, new = self.run(tokens[:, tf.newaxis], self.recurrent.nested_states(flat))
            logits = logits[:, 0]
            logits = tf.concat([tf.fill([tf.shape(logits)[0], 1], -1e9), logits[:, 1:]], axis=1)  # no PAD
            return logits, (self.recurrent.flat_states(new), pending, tf.zeros_like(first))

        if beam_width > 1:
            return beam_search(step, start, start_id=BOUNDARY_ID, end_id=end_id,
                               max_length=tf.reduce_max(max_tokens), beam_width=beam_width, pad_id=PAD_ID)
        return sample_search(step, start, start_id=BOUNDARY_ID, end_id=end_id, max_length=max_tokens,
                             temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, pad_id=PAD_ID)
