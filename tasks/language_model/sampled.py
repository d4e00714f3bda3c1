"""Sampled softmax: the training loss of a word-level language model against a sample of its vocabulary.

Why: the output layer costs ``2 · units · vocabulary`` FLOPs a token, so at a 20,000-word
vocabulary it is most of a small LM's training time (about 96% at 64 units), and a wider
recurrent layer (what makes a better encoder to pretrain) multiplies it. Scoring the target
against ``S`` words drawn from a log-uniform (Zipfian) proposal, with the ``log Q`` correction
of Jean et al. (2015), makes that cost ``2 · units · S``; the full softmax is still what
validation, evaluation and serving compute, so perplexity stays exact.

Written here rather than taken from ``tf.nn.sampled_softmax_loss``: its accidental-hit removal
(``compute_accidental_hits``) has no XLA kernel, and its samplers are stateful ops that restart
their sequence when a killed run resumes. This sample is a pure function of (seed, step), so a
resumed run draws what an uninterrupted one would.
"""
from __future__ import annotations

import math

import tensorflow as tf


def log_uniform_sample(count: int, vocabulary_size: int, seed):
    """``count`` ids drawn with replacement from P(k) = log((k+2)/(k+1)) / log(V+1) (ids ranked by
    frequency, as `fit_vocabulary` orders them), from the stateless ``seed`` (shape [2])."""
    u = tf.random.stateless_uniform([count], seed=seed, dtype=tf.float64)
    ids = tf.cast(tf.floor(tf.exp(u * math.log(vocabulary_size + 1.0))), tf.int32) - 1
    return tf.clip_by_value(ids, 0, vocabulary_size - 1)


def log_expected_count(ids, count: int, vocabulary_size: int):
    """log(count · P(id)) for the log-uniform proposal: the correction subtracted from each logit."""
    k = tf.cast(ids, tf.float32)
    probability = (tf.math.log(k + 2.0) - tf.math.log(k + 1.0)) / math.log(vocabulary_size + 1.0)
    return tf.math.log(count * probability)


def sampled_softmax_loss(features, targets, output_rows, biases, vocabulary_size: int, count: int, seed):
    """Per-token loss ``[n]`` of the targets ``[n]`` against ``count`` sampled words.

    ``features`` ``[n, d]`` feed the output layer; ``output_rows(ids)`` returns those ids' output
    weights ``[len(ids), d]``; ``biases`` ``[V]``. A sampled word equal to the token's target
    (an accidental hit) is left out of that token's sum.
    """
    sampled = log_uniform_sample(count, vocabulary_size, seed)
    true_logits = tf.reduce_sum(features * output_rows(targets), axis=-1) + tf.gather(biases, targets)
    true_logits -= log_expected_count(targets, count, vocabulary_size)
    sampled_logits = tf.matmul(features, output_rows(sampled), transpose_b=True) + tf.gather(biases, sampled)
    sampled_logits -= log_expected_count(sampled, count, vocabulary_size)[tf.newaxis]
    hits = tf.equal(targets[:, tf.newaxis], sampled[tf.newaxis])
    sampled_logits = tf.where(hits, tf.constant(-1e9, sampled_logits.dtype), sampled_logits)
    logits = tf.concat([true_logits[:, tf.newaxis], sampled_logits], axis=1)
    return tf.reduce_logsumexp(logits, axis=1) - true_logits
