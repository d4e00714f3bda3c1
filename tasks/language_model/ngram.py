"""Count-based baselines on the same token streams: add-one unigram and interpolated Kneser-Ney.

Kneser-Ney is written here rather than taken from ``nltk.lm``: measured on PTB,
``nltk.lm.KneserNeyInterpolated`` (NLTK 3.10) needs about 20 ms per scored token
once fitted on 100k tokens (its continuation counts are recounted on every call;
nltk/nltk#3317), so the 82k PTB test tokens would take about half an hour, and
it gives words unseen in the fit probability 0 (nltk/nltk#3211) and scores seen
ones against a uniform unigram floor (nltk/nltk#2599), which put its 3-gram
perplexity above the unigram's (1,300 vs 640). This one follows Chen & Goodman
(1998): interpolated absolute discounting with one discount ``D`` per order,
continuation counts (distinct left contexts) below the highest order, and a
uniform distribution over the vocabulary under the unigram level, so every
token gets a probability and each context's distribution sums to 1. Fitting is
one pass over the counts (PTB: a few seconds).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from tasks.language_model.data import BOUNDARY_ID, PAD_ID

DISCOUNT = 0.75


def unigram_probabilities(train_ids: np.ndarray, vocabulary_size: int) -> np.ndarray:
    """Add-one-smoothed unigram frequencies of the training tokens (PAD, never a token, is left out of
    the total): the unigram baseline, and the language model's starting output bias."""
    counts = np.bincount(train_ids, minlength=vocabulary_size).astype("float64")
    counts[PAD_ID] = 0.0
    return (counts + 1.0) / (counts.sum() + vocabulary_size - 1)


def unigram_nll(train_ids: np.ndarray, ids: np.ndarray, vocabulary_size: int) -> float:
    """Summed NLL of ``ids`` under `unigram_probabilities`."""
    return float(-np.log(unigram_probabilities(train_ids, vocabulary_size)[ids]).sum())


class KneserNey:
    """Interpolated Kneser-Ney n-gram model over integer tokens (``vocabulary_size`` of them, PAD excluded)."""

    def __init__(self, order: int, vocabulary_size: int, discount: float = DISCOUNT):
        self.order = order
        self.uniform = 1.0 / (vocabulary_size - 1)
        self.discount = discount
        # per level k (n-gram length): counts[k][(context, word)], and per context: total and distinct words
        self.counts = [dict() for _ in range(order + 1)]
        self.totals = [dict() for _ in range(order + 1)]
        self.types = [dict() for _ in range(order + 1)]

    def fit(self, stream: np.ndarray) -> "KneserNey":
        """Count the n-grams of ``[boundary] + stream`` (one stream, as the neural model reads it): raw
        counts at the highest order, continuation counts (distinct left neighbours) below it."""
        tokens = [BOUNDARY_ID] + [int(t) for t in stream]
        n = self.order
        self.counts[n] = dict(Counter(tuple(tokens[i - n + 1:i + 1]) for i in range(n - 1, len(tokens))))
        for k in range(n - 1, 0, -1):
            above = {tuple(tokens[i - k:i + 1]) for i in range(k, len(tokens))}  # every (k+1)-gram type
            self.counts[k] = dict(Counter(gram[1:] for gram in above))
        for k in range(1, n + 1):
            totals, types = defaultdict(int), defaultdict(int)
            for gram, c in self.counts[k].items():
                totals[gram[:-1]] += c
                types[gram[:-1]] += 1
            self.totals[k], self.types[k] = dict(totals), dict(types)
        return self

    def probability(self, word: int, context: tuple) -> float:
        p = self.uniform
        for k in range(1, self.order + 1):
            if k > 1 and len(context) < k - 1:
                break
            history = tuple(context[len(context) - (k - 1):]) if k > 1 else ()
            total = self.totals[k].get(history)
            if not total:
                break  # an unseen context: the lower orders' estimate stands
            count = self.counts[k].get(history + (word,), 0)
            p = (max(count - self.discount, 0.0) + self.discount * self.types[k][history] * p) / total
        return p

    def nll(self, ids: np.ndarray) -> float:
        """Summed NLL of every token of ``ids`` read as one stream after the boundary token."""
        tokens = [BOUNDARY_ID] + [int(t) for t in ids]
        total = 0.0
        for i in range(1, len(tokens)):
            total -= math.log(self.probability(tokens[i], tuple(tokens[max(0, i - self.order + 1):i])))
        return total
