"""Translation metrics against hand-computed values."""
import math

import numpy as np
import pytest

from common.metrics.translation import (
    masked_token_nll,
    perplexity,
    rouge_scores,
    sacrebleu_scores,
    tokenized_bleu,
)


def test_tokenized_bleu_matches_the_hand_computed_value():
    # n-gram precisions 4/5, 3/4, 2/3, 1/2, equal lengths (no brevity penalty).
    expected = 100 * (0.8 * 0.75 * (2 / 3) * 0.5) ** 0.25
    got = tokenized_bleu([["a", "b", "c", "d", "e"]], [["a", "b", "c", "d", "f"]])
    assert got == pytest.approx(expected, rel=1e-4)


def test_tokenized_bleu_applies_the_brevity_penalty():
    # hypothesis 4 tokens, reference 5: all n-grams match, BP = exp(1 - 5/4).
    got = tokenized_bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d", "e"]])
    assert got == pytest.approx(100 * math.exp(1 - 5 / 4), rel=1e-4)


def test_tokenized_bleu_is_case_insensitive():
    assert tokenized_bleu([["A", "Dog", "runs", "fast", "."]], [["a", "dog", "runs", "fast", "."]]) == pytest.approx(100.0)


def test_sacrebleu_perfect_and_disjoint_and_signatures():
    same = sacrebleu_scores(["A dog runs on the grass."], ["A dog runs on the grass."])
    assert same["bleu"] == pytest.approx(100.0) and same["chrf"] == pytest.approx(100.0)
    apart = sacrebleu_scores(["xyz qqq"], ["A dog runs on the grass."])
    assert apart["bleu"] == pytest.approx(0.0) and apart["chrf"] < 5
    assert "tok:13a" in same["bleu_signature"]
    cased = sacrebleu_scores(["a dog runs on the grass."], ["A dog runs on the grass."])
    lower = sacrebleu_scores(["a dog runs on the grass."], ["A dog runs on the grass."], lowercase=True)
    assert cased["bleu"] < 100 and lower["bleu"] == pytest.approx(100.0)
    assert "case:lc" in lower["bleu_signature"]


def test_rouge_matches_hand_computed_f1():
    scores = rouge_scores([["a", "b", "c"]], [["a", "b", "d"]])
    assert scores["rouge1"] == pytest.approx(100 * 2 / 3)
    assert scores["rouge2"] == pytest.approx(50.0)  # bigrams {ab, bc} vs {ab, bd}
    assert scores["rougeL"] == pytest.approx(100 * 2 / 3)  # LCS "a b"


def test_rouge_keeps_non_ascii_words():
    assert rouge_scores([["für", "größe"]], [["für", "größe"]])["rouge1"] == pytest.approx(100.0)


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size():
    targets = np.array([[1, 2, 0], [3, 0, 0]])
    nll, count = masked_token_nll(targets, np.zeros((2, 3, 4)))
    assert count == 3
    assert nll == pytest.approx(3 * math.log(4))
    assert perplexity(nll, count) == pytest.approx(4.0)


def test_perplexity_ignores_padding_logits():
    targets = np.array([[1, 0]])
    logits = np.zeros((1, 2, 4))
    logits[0, 1] = [50, -50, 3, 9]  # at a padded position: must not count
    assert perplexity(*masked_token_nll(targets, logits)) == pytest.approx(4.0)


def test_mismatched_counts_are_rejected():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        sacrebleu_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="at least one target token"):
        perplexity(0.0, 0)


def test_tokenized_bleu_takes_the_tokens_as_given():
    # sacreBLEU's own 13a tokenizer would split "b.c" into "b . c" and score a perfect match
    got = tokenized_bleu([["a", "b.c", "d", "e"]], [["a", "b", ".", "c", "d", "e"]])
    assert got < 50


def test_chrf_follows_lowercase_and_records_it_in_its_signature():
    lower = sacrebleu_scores(["a dog runs on the grass."], ["A Dog runs on the grass."], lowercase=True)
    assert lower["chrf"] == pytest.approx(100.0)
    assert "case:lc" in lower["chrf_signature"] and lower["chrf_signature"].startswith("nrefs:1")


def test_rouge_averages_over_sentences():
    scores = rouge_scores([["a", "b"], ["x", "y"]], [["a", "b"], ["c", "d"]])  # one perfect, one disjoint
    assert scores["rouge1"] == pytest.approx(50.0) and scores["rougeL"] == pytest.approx(50.0)


def test_rouge_tells_apart_words_that_differ_only_in_non_ascii_letters():
    # rouge-score's own tokenizer turns both into "f r" and would call them equal
    assert rouge_scores([["für"]], [["fär"]])["rouge1"] == pytest.approx(0.0)


def test_masked_token_nll_is_exact_for_large_and_small_logits_side_by_side():
    logits = np.array([[[1000.0, 999.0], [0.0, 2.0]]])
    nll, count = masked_token_nll(np.array([[0, 1]]), logits, pad_id=-1)
    assert count == 2
    assert nll == pytest.approx(math.log1p(math.exp(-1)) + math.log1p(math.exp(-2)))


def test_error_messages_are_whole():
    with pytest.raises(ValueError, match="^2 hypotheses but 1 references; every hypothesis needs exactly one "
                                         "reference$"):
        sacrebleu_scores(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="^perplexity needs at least one target token$"):
        perplexity(0.0, 0)
