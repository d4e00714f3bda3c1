"""Greedy and beam-search decoding over a "step function", as TensorFlow graph loops.

The search code knows nothing about models. A decoder is described by

    step_fn(tokens, state, constants) -> (logits, new_state)

``tokens`` int32 ``[n]`` are the previous output tokens; ``state`` is any
nested structure of tensors with a leading ``[n]`` axis that changes every step
(an RNN's hidden state); ``constants`` is a nested structure with a leading
``[n]`` axis that stays fixed (encoder outputs, their attention keys, the
source mask); ``logits`` are ``[n, vocab]``. Beam search tiles state and
constants ``beam_width`` times along the batch axis (batch-major: rows
``b * beam_width .. b * beam_width + beam_width - 1`` belong to sentence ``b``),
reorders ``state`` after each step and never copies ``constants`` again.
Rows that have finished are left out of the step (`_live_step`): a batch
whose sentences end at different times stops paying for the ended ones.

Both functions are plain TensorFlow ops (`tf.while_loop`), so they work
eagerly and inside a `tf.function` / SavedModel, and stop as soon as every
sequence has produced ``end_id`` (or at ``max_length``). They return a
`Decoded`: ``tokens`` ``[batch, time]`` without the start and end tokens and
padded with ``pad_id``, ``lengths`` ``[batch]`` and ``scores`` ``[batch]``
(total log-probability, including the end token when one was produced).

TensorFlow Addons' BeamSearchDecoder used to provide this but is discontinued
and not Keras 3 compatible, and KerasHub's samplers are a dependency we do not
carry, so the search is written here.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

NEG_INF = -1e9  # "impossible" log-probability; finite so that sums and divisions stay NaN-free
# Finished rows are left out of a step once there are this many: below it, the step's matmuls are bound
# by reading the weights, not by rows, so fewer rows save nothing and the gathers cost time (batch-1 beam 4
# measured ~5% slower when its ended beams were left out; batch-32 beam 4 1.3x faster).
MIN_ROWS_LEFT_OUT = 16


class Decoded(NamedTuple):
    tokens: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor


def _batch_size(structure):
    first = tf.nest.flatten(structure)[0]
    return tf.shape(first)[0]


def _finish(rows, end_id, pad_id):
    """Turn raw step outputs ``[batch, time]`` into tokens without ``end_id``, padded, and lengths."""
    rows = tf.convert_to_tensor(rows)
    ended = tf.cumsum(tf.cast(tf.equal(rows, end_id), tf.int32), axis=1, exclusive=False) > 0
    keep = tf.logical_and(tf.logical_not(ended), tf.not_equal(rows, pad_id))
    tokens = tf.where(keep, rows, tf.cast(pad_id, rows.dtype))
    lengths = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
    width = tf.reduce_max(tf.concat([lengths, [0]], axis=0))  # drop columns that are padding everywhere
    return tokens[:, :width], lengths


def _live_step(step_fn, tokens, state, constants, finished):
    """``step_fn`` on the rows that have not finished only -> (log-probabilities ``[n, vocab]``, state).

    The rows still decoding are gathered, stepped and scattered back: finished rows get
    log-probabilities of 0 (the searches overwrite them) and keep their old state. Gathering
    the constants (the encoder memory) each step costs a copy, far less than the decoder step
    and output layer it saves on ended rows; with fewer than `MIN_ROWS_LEFT_OUT` finished rows,
    every row is stepped and nothing is gathered.
    """
    def every_row():
        logits, new_state = step_fn(tokens, state, constants)
        return tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1), new_state

    def live_rows():
        index = tf.where(tf.logical_not(finished))
        pick = lambda x: tf.gather_nd(x, index)  # noqa: E731
        logits, live_state = step_fn(pick(tokens), tf.nest.map_structure(pick, state),
                                     tf.nest.map_structure(pick, constants))
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        log_probs = tf.scatter_nd(index, log_probs, [tf.shape(tokens)[0], tf.shape(log_probs)[-1]])
        merged = tf.nest.map_structure(lambda old, new: tf.tensor_scatter_nd_update(old, index, new),
                                       state, live_state)
        return log_probs, merged

    return tf.cond(tf.reduce_sum(tf.cast(finished, tf.int32)) >= MIN_ROWS_LEFT_OUT, live_rows, every_row)


def _token_by_token(step_fn, initial_state, constants, start_id, end_id, pad_id, max_length, pick) -> Decoded:
    """The loop greedy and sampled decoding share: ``pick(t, log_probs) -> token ids`` at every step, a
    row stops at its end token or its ``max_length`` (``[batch]``), the loop when every row stopped."""
    batch = _batch_size(initial_state)

    def cond(t, tokens, state, finished, scores, outputs):
        return tf.logical_and(t < tf.reduce_max(max_length), tf.logical_not(tf.reduce_all(finished)))

    def body(t, tokens, state, finished, scores, outputs):
        log_probs, state = _live_step(step_fn, tokens, state, constants, finished)
        token = pick(t, log_probs)
        finished = tf.logical_or(finished, t >= max_length)
        token_score = tf.gather(log_probs, token, batch_dims=1)
        token = tf.where(finished, tf.constant(pad_id, tf.int32), token)
        scores = scores + tf.where(finished, 0.0, token_score)
        finished = tf.logical_or(finished, tf.equal(token, end_id))
        return t + 1, token, state, finished, scores, outputs.write(t, token)

    outputs = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))
    loop = tf.while_loop(
        cond, body,
        (tf.constant(0), tf.fill([batch], tf.constant(start_id, tf.int32)), initial_state,
         tf.zeros([batch], tf.bool), tf.zeros([batch], tf.float32), outputs))
    steps, scores = loop[0], loop[4]
    rows = tf.cond(steps > 0, lambda: tf.transpose(loop[5].stack()),
                   lambda: tf.zeros([batch, 0], tf.int32))
    tokens, lengths = _finish(rows, end_id, pad_id)
    return Decoded(tokens, lengths, scores)


def greedy_search(step_fn: Callable, initial_state, constants=(), *, start_id: int, end_id: int,
                  max_length, pad_id: int = 0) -> Decoded:
    """Pick the most probable token at every step."""
    max_length = tf.broadcast_to(tf.cast(max_length, tf.int32), [_batch_size(initial_state)])
    return _token_by_token(step_fn, initial_state, constants, start_id, end_id, pad_id, max_length,
                           lambda t, log_probs: tf.argmax(log_probs, axis=-1, output_type=tf.int32))


def length_penalty(lengths, alpha: float):
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (Wu et al., 2016); 1 when alpha is 0."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _tile(structure, times):
    return tf.nest.map_structure(lambda x: tf.repeat(x, times, axis=0), structure)


def beam_search(step_fn: Callable, initial_state, constants=(), *, start_id: int, end_id: int,
                max_length, beam_width: int = 4, alpha: float = 0.0, pad_id: int = 0) -> Decoded:
    """Keep the ``beam_width`` best partial translations at every step; return the best one.

    Hypotheses are ranked by log-probability divided by `length_penalty` (``alpha`` 0: raw
    log-probability; larger ``alpha`` favours longer outputs), as in OpenNMT. A finished
    hypothesis stays in the beam with a frozen score and length, so the search can stop once
    all beams have finished. With ``beam_width=1`` this is exactly `greedy_search`.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    k = int(beam_width)
    batch = _batch_size(initial_state)
    max_length = tf.convert_to_tensor(max_length, tf.int32)
    state = _tile(initial_state, k)
    constants = _tile(constants, k)
    # Only beam 0 is alive at the start, so the first step does not pick k copies of one token.
    first = tf.concat([[0.0], tf.fill([k - 1], NEG_INF)], axis=0)
    log_probs = tf.tile(first[tf.newaxis], [batch, 1])
    base = tf.range(batch)[:, tf.newaxis] * k  # row offset of each sentence's beams

    def cond(t, tokens, state, log_probs, finished, lengths, rows):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(finished)))

    def body(t, tokens, state, log_probs, finished, lengths, rows):
        step, state = _live_step(step_fn, tokens, state, constants, tf.reshape(finished, [-1]))
        vocab = tf.shape(step)[-1]
        step = tf.reshape(step, [batch, k, vocab])
        # A finished beam can only be extended by padding, at no cost.
        only_pad = tf.where(tf.equal(tf.range(vocab), pad_id), 0.0, NEG_INF)
        step = tf.where(finished[..., tf.newaxis], only_pad, step)
        total = log_probs[..., tf.newaxis] + step  # [batch, k, vocab]
        new_lengths = tf.where(finished, lengths, lengths + 1)
        ranked = total / length_penalty(new_lengths, alpha)[..., tf.newaxis] if alpha else total
        _, index = tf.math.top_k(tf.reshape(ranked, [batch, k * vocab]), k=k)
        beam = index // vocab
        token = index % vocab
        log_probs = tf.gather(tf.reshape(total, [batch, k * vocab]), index, batch_dims=1)
        lengths = tf.gather(new_lengths, beam, batch_dims=1)
        finished = tf.logical_or(tf.gather(finished, beam, batch_dims=1), tf.equal(token, end_id))
        rows = tf.concat([tf.gather(rows, beam, batch_dims=1), token[..., tf.newaxis]], axis=2)
        flat = tf.reshape(base + beam, [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, flat), state)
        return t + 1, tf.reshape(token, [-1]), state, log_probs, finished, lengths, rows

    init = (tf.constant(0), tf.fill([batch * k], tf.constant(start_id, tf.int32)), state, log_probs,
            tf.zeros([batch, k], tf.bool), tf.zeros([batch, k], tf.int32),
            tf.zeros([batch, k, 0], tf.int32))
    invariants = tf.nest.map_structure(lambda x: tf.TensorShape(x.shape), init)
    invariants = invariants[:6] + (tf.TensorShape([None, k, None]),)
    _, _, _, log_probs, _, lengths, rows = tf.while_loop(cond, body, init, shape_invariants=invariants)
    normalized = log_probs / length_penalty(lengths, alpha) if alpha else log_probs
    best = tf.argmax(normalized, axis=1, output_type=tf.int32)
    tokens, out_lengths = _finish(tf.gather(rows, best, batch_dims=1), end_id, pad_id)
    return Decoded(tokens, out_lengths, tf.gather(log_probs, best, batch_dims=1))


def filter_logits(logits, temperature, top_k, top_p):
    """Temperature, top-k and nucleus (top-p) filtering of ``logits`` ``[n, vocab]``, row by row.

    ``temperature`` (> 0), ``top_k`` (0: no limit) and ``top_p`` (1: no limit) are scalars or
    ``[n]`` (one setting per row). Returns the scaled logits with every token outside the
    top ``k`` or outside the smallest set whose probability reaches ``top_p`` set to
    `NEG_INF` (Holtzman et al., 2020); the most probable token always stays. Tokens tied
    with the last one kept stay too.
    """
    logits = tf.cast(logits, tf.float32)
    n, vocab = tf.shape(logits)[0], tf.shape(logits)[1]
    temperature = tf.broadcast_to(tf.cast(temperature, tf.float32), [n])
    top_k = tf.broadcast_to(tf.cast(top_k, tf.int32), [n])
    top_p = tf.broadcast_to(tf.cast(top_p, tf.float32), [n])
    logits = logits / temperature[:, tf.newaxis]
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.gather(ordered, k - 1, batch_dims=1)
    logits = tf.where(logits < kth[:, tf.newaxis], NEG_INF, logits)
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    before = tf.cumsum(tf.nn.softmax(ordered, axis=-1), axis=-1, exclusive=True)  # mass above each token
    keep = tf.logical_or(before < top_p[:, tf.newaxis], (top_p >= 1.0)[:, tf.newaxis])
    kept = tf.maximum(tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1), 1)
    cutoff = tf.gather(ordered, kept - 1, batch_dims=1)
    return tf.where(logits < cutoff[:, tf.newaxis], NEG_INF, logits)


def sample_search(step_fn: Callable, initial_state, constants=(), *, start_id: int, end_id: int,
                  max_length, temperature=1.0, top_k=0, top_p=1.0, seed=0, pad_id: int = 0) -> Decoded:
    """Draw every token from the model's (filtered) distribution: temperature, top-k and nucleus sampling.

    ``max_length``, ``temperature``, ``top_k``, ``top_p`` and ``seed`` are scalars or ``[batch]``
    (one setting per sequence). A row with temperature 0 takes the most probable token
    (greedy), as does ``top_k`` 1. Draws are stateless and seeded per row and step (Gumbel-max
    over `tf.random.stateless_uniform` with seed ``[seed, step]``), so a sequence is the same
    whatever else is in the batch, in eager mode or in a SavedModel. ``scores`` are the
    model's own log-probabilities of the drawn tokens (before filtering).
    """
    batch = _batch_size(initial_state)
    max_length = tf.broadcast_to(tf.cast(max_length, tf.int32), [batch])
    temperature = tf.broadcast_to(tf.cast(temperature, tf.float32), [batch])
    seed = tf.broadcast_to(tf.cast(seed, tf.int64), [batch])
    greedy = temperature <= 0.0
    safe_temperature = tf.where(greedy, 1.0, temperature)

    def pick(t, log_probs):
        filtered = filter_logits(log_probs, safe_temperature, top_k, top_p)
        vocab = tf.shape(log_probs)[-1]
        step = tf.cast(t, tf.int64)
        uniform = tf.map_fn(
            lambda s: tf.random.stateless_uniform([vocab], seed=tf.stack([s, step]), minval=1e-20, maxval=1.0),
            seed, fn_output_signature=tf.float32)
        drawn = tf.argmax(filtered - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
        best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        return tf.where(greedy, best, drawn)

    return _token_by_token(step_fn, initial_state, constants, start_id, end_id, pad_id, max_length, pick)
