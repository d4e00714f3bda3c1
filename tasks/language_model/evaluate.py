"""Scoring a trained language model on a split, the report's text sample, and the n-gram baselines.

The metrics are computed over every token of the split, end-of-line markers
included, walking the split exactly as in training: the parallel streams in
order, the state carried from window to window (reset at the start), every
window including the last partial ones. Word level reports perplexity
``exp(mean NLL)``; character level bits and nats per character.
"""
from __future__ import annotations

import math
import time

import numpy as np
import tensorflow as tf

from common.errors import warn
from tasks.language_model.data import BOUNDARY_ID, PAD_ID, LanguageModelPrepared
from tasks.language_model.export import Generator, settings
from tasks.language_model.layers import ResetStates

# nltk.lm scores one token at a time in Python: its Kneser-Ney baseline is fitted on at most this many
# training tokens and scored on at most this many tokens of the split (the first ones), so it stays cheap.
NGRAM_FIT_TOKENS = 300_000
NGRAM_SCORE_TOKENS = 20_000
NGRAM_ORDER = 3


def token_metrics(nll_sum: float, count: int, granularity: str) -> dict:
    """Perplexity (words) or bits and nats per character (characters) from a summed NLL in nats."""
    nats = nll_sum / max(count, 1)
    if granularity == "word":
        return {"perplexity": math.exp(min(nats, 700.0)), "nats_per_token": nats, "tokens": int(count)}
    return {"bits_per_char": nats / math.log(2.0), "nats_per_char": nats, "perplexity": math.exp(min(nats, 700.0)),
            "tokens": int(count)}


def split_nll(model, dataset) -> tuple[float, int]:
    """Summed NLL (nats) and token count of every target in ``dataset``, state carried in order."""
    resetter = ResetStates()
    resetter.set_model(model)
    resetter.on_test_begin()

    @tf.function(reduce_retracing=True)
    def window(x, y):
        logits = tf.cast(model(x, training=False), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)
        real = tf.cast(tf.not_equal(y, PAD_ID), tf.float32)
        return tf.reduce_sum(nll * real), tf.reduce_sum(real)

    total, count = 0.0, 0.0
    for x, y in dataset:
        nll, n = window(x, y)
        total += float(nll)
        count += float(n)
    return total, int(round(count))


def sample_text(model, config, prepared: LanguageModelPrepared, split: str) -> str:
    """A continuation of ``model.generation.sample_prompt`` (or the split's first tokens) with the
    configured generation settings and seed, so the report shows what the model writes."""
    g = config.model.generation
    vocabulary = prepared.state["vocabulary"]
    prompt = g.sample_prompt
    if not prompt:
        first = prepared.ids[split][:10 if config.data.granularity == "word" else 40]
        prompt = Generator.join([vocabulary[i] for i in first], config.data.granularity)
    generator = Generator(model, vocabulary, config.data.granularity, g.beam_width)
    out = generator.generate(tf.constant([prompt]), **{k: tf.constant(v) for k, v in settings(config, 1).items()})
    return f"{prompt} ⟶ {out['text'].numpy()[0].decode('utf-8')}"


def evaluate_split(model, config, prepared: LanguageModelPrepared, split: str, run) -> dict:
    nll, count = split_nll(model, prepared.split(split))
    metrics = token_metrics(nll, count, config.data.granularity)
    metrics["sample"] = sample_text(model, config, prepared, split)
    return metrics


def unigram_nll(train_ids: np.ndarray, ids: np.ndarray, vocabulary_size: int) -> float:
    """Summed NLL of ``ids`` under add-one-smoothed unigram frequencies of the training tokens."""
    counts = np.bincount(train_ids, minlength=vocabulary_size).astype("float64")
    counts[PAD_ID] = 0.0
    probs = (counts + 1.0) / (counts.sum() + vocabulary_size - 1)
    return float(-np.log(probs[ids]).sum())


def kneser_ney_nll(train_ids: np.ndarray, ids: np.ndarray, order: int = NGRAM_ORDER) -> tuple[float, int]:
    """Summed NLL and count of ``ids`` under NLTK's interpolated Kneser-Ney n-gram model of the training
    stream (both capped, see `NGRAM_FIT_TOKENS` / `NGRAM_SCORE_TOKENS`). Lines are not padded: like
    the neural model, the n-gram model reads one stream in which the boundary token is a word."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    train = [str(i) for i in train_ids[:NGRAM_FIT_TOKENS]]
    lm = KneserNeyInterpolated(order)
    lm.fit([everygrams(train, max_len=order)], vocabulary_text=train)
    stream = [str(BOUNDARY_ID)] + [str(i) for i in ids[:NGRAM_SCORE_TOKENS]]
    total = 0.0
    for t in range(1, len(stream)):
        context = stream[max(0, t - order + 1):t]
        p = lm.score(stream[t], context)
        total -= math.log(p) if p > 0 else math.log(1e-12)
    return total, len(stream) - 1


def baselines(config, prepared: LanguageModelPrepared, split: str) -> dict:
    g = config.data.granularity
    train, ids = prepared.ids["train"], prepared.ids[split]
    out = {"unigram": token_metrics(unigram_nll(train, ids, len(prepared.state["vocabulary"])), len(ids), g)}
    started = time.time()
    nll, count = kneser_ney_nll(train, ids)
    scores = token_metrics(nll, count, g)
    if count < len(ids) or len(train) > NGRAM_FIT_TOKENS:
        warn(f"the Kneser-Ney {NGRAM_ORDER}-gram baseline was fitted on {min(len(train), NGRAM_FIT_TOKENS)} "
             f"training tokens and scored on the first {count} {split} tokens (nltk.lm is slow; "
             f"{time.time() - started:.0f} s)")
    out[f"kneser_ney_{NGRAM_ORDER}gram"] = scores
    return out
