"""The count baselines: a proper distribution, and Kneser-Ney's values on a corpus small enough to do by hand."""
import math

import numpy as np
import pytest

from tasks.language_model.data import BOUNDARY_ID
from tasks.language_model.ngram import DISCOUNT, KneserNey, unigram_nll

A, B, C = 3, 4, 5  # ids after PAD, UNK and the boundary


def test_unigram_is_add_one_smoothed():
    train = np.array([A, A, B], "int32")
    # vocabulary of 6 with PAD excluded: 5 entries; A seen twice -> (2 + 1) / (3 + 5)
    assert unigram_nll(train, np.array([A]), 6) == pytest.approx(-math.log(3 / 8))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_context_is_a_distribution(order):
    stream = np.random.default_rng(0).integers(1, 8, size=300).astype("int32")
    model = KneserNey(order, 8).fit(stream)
    for context in [(), (3,), (3, 4), (99, 98)]:
        assert sum(model.probability(w, context) for w in range(1, 8)) == pytest.approx(1.0)


def test_bigram_kneser_ney_by_hand():
    """Stream [boundary] A B A C: bigram types (b,A) (A,B) (B,A) (A,C)."""
    model = KneserNey(2, 6).fit(np.array([A, B, A, C], "int32"))
    d, uniform = DISCOUNT, 1 / 5
    # continuation counts: A follows 2 distinct tokens (boundary, B), B 1, C 1; 4 bigram types in all, 3 words
    p_b = (max(1 - d, 0) + d * 3 * uniform) / 4
    # after A: B once and C once (2 types, 2 tokens)
    assert model.probability(B, (A,)) == pytest.approx((1 - d + d * 2 * p_b) / 2)
    assert model.probability(BOUNDARY_ID, (A,)) == pytest.approx(d * 2 * (d * 3 * uniform / 4) / 2)
