"""Scoring a trained language model on a split, the report's text sample, and the n-gram baselines.

The metrics are computed over every token of the split, end-of-line markers
included, walking the split exactly as in training: the parallel streams in
order, the state carried from window to window (reset at the start), every
window including the last partial ones. Word level reports perplexity
``exp(mean NLL)``; character level bits and nats per character.
"""
from __future__ import annotations

import math

import tensorflow as tf

from common.progress import progress
from tasks.language_model import ngram
from tasks.language_model.data import PAD_ID, LanguageModelPrepared
from tasks.language_model.export import Generator, settings
from tasks.language_model.layers import ResetStates

NGRAM_ORDER = 3  # one discount per order: 5-grams gain nothing on PTB (test perplexity 154.3 vs 155.0)


def token_metrics(nll_sum: float, count: int, granularity: str) -> dict:
    """Perplexity (words) or bits and nats per character (characters) from a summed NLL in nats."""
    nats = nll_sum / max(count, 1)
    if granularity == "word":
        return {"perplexity": math.exp(min(nats, 700.0)), "nats_per_token": nats, "tokens": int(count)}
    return {"bits_per_char": nats / math.log(2.0), "nats_per_char": nats, "tokens": int(count)}


def split_nll(model, dataset) -> tuple[float, int]:
    """Summed NLL (nats) and token count of every target in ``dataset``, state carried in order (on a
    terminal, a bar of the windows, for a long split)."""
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
    windows = int(dataset.cardinality())
    with progress("evaluating", total=windows if windows >= 0 else None, unit="windows") as bar:
        for x, y in dataset:
            nll, n = window(x, y)
            total += float(nll)
            count += float(n)
            bar.update()
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


def baselines(config, prepared: LanguageModelPrepared, split: str) -> dict:
    """Add-one unigram and interpolated Kneser-Ney n-gram models of the training stream, scored on every
    token of the split like the network (`ngram`)."""
    g = config.data.granularity
    train, ids = prepared.ids["train"], prepared.ids[split]
    size = len(prepared.state["vocabulary"])
    return {"unigram": token_metrics(ngram.unigram_nll(train, ids, size), len(ids), g),
            f"kneser_ney_{NGRAM_ORDER}gram": token_metrics(ngram.KneserNey(NGRAM_ORDER, size).fit(train).nll(ids),
                                                         len(ids), g)}
