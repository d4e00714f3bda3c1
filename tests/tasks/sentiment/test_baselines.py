"""The sentiment baselines: NBSVM's log-count ratio on a case worked by hand, its classifier, one-vs-rest
for more than two labels, and the baselines every run reports."""
from types import SimpleNamespace

import numpy as np
import pytest

from sklearn.metrics import roc_auc_score

from tasks.sentiment.baselines import BASELINES, NBLogisticRegression, baselines, nbsvm, tfidf_logreg
from tests.common.terminal import on_a_terminal


def prepared(train, test, labels):
    """The fields of a SentimentPrepared the baselines read, from ``[(text, label), ...]`` lists."""
    def ids(rows):
        return np.array([labels.index(label) for _, label in rows], dtype="int32")
    return SimpleNamespace(state={"labels": labels},
                           texts={"train": [t for t, _ in train], "test": [t for t, _ in test]},
                           label_ids={"train": ids(train), "test": ids(test)})


def test_log_count_ratio_of_binarized_uni_and_bigrams_matches_the_hand_computation():
    model = nbsvm().fit(["good good film!", "good plot", "bad film", "bad plot"], [1, 1, 0, 0])
    vocabulary = model[0].vocabulary_
    r = model[-1].estimators_[0].r_
    # 11 features: !, bad, "bad film", "bad plot", film, "film !", good, "good film", "good good",
    # "good plot", plot. Counted once per text ("good good" has one good), so the positive texts have
    # 9 feature occurrences and the negative ones 6; add alpha = 1 to each of the 11: |p|_1 = 20, |q|_1 = 17.
    by_hand = {"good": 0.936093,        # log((2+1)/20 / ((0+1)/17)) = log(51/20)
               "bad": -1.261131,        # log((0+1)/20 / ((2+1)/17)) = log(17/60)
               "film": -0.162519,       # log((1+1)/20 / ((1+1)/17)) = log(17/20)
               "!": 0.530628,           # log((1+1)/20 / ((0+1)/17)) = log(34/20)
               "good good": 0.530628}   # a bigram, like "!" once in a positive text only
    assert len(vocabulary) == 11
    assert {word: round(float(r[vocabulary[word]]), 6) for word in by_hand} == by_hand


def test_a_feature_both_classes_use_equally_does_not_move_the_prediction():
    # columns: good, bad, neutral, other. Both classes have 3 feature occurrences, "neutral" 1 each, so
    # its r is 0 and x∘r erases it, although it co-occurs with "good" and stands alone in a negative row
    # (a logistic regression on the raw counts would give it a negative weight).
    x = np.array([[1, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 0]], dtype=float)
    model = NBLogisticRegression().fit(x, [1, 1, 0, 0])
    assert model.r_[2] == pytest.approx(0.0, abs=1e-12)
    only_neutral, nothing = model.predict_proba(np.array([[0, 0, 1, 0], [0, 0, 0, 0]], dtype=float))
    assert only_neutral == pytest.approx(nothing, abs=1e-12)


POSITIVE, NEGATIVE, TOPICS = ["great", "superb", "wonderful"], ["awful", "dreadful", "boring"], \
    ["film", "plot", "acting", "story", "cast", "ending"]


def reviews(words, label, topics):
    return [(f"a {word} {topic}", label) for word in words for topic in topics]


def test_nbsvm_classifies_held_out_texts_of_a_separable_set_perfectly_and_beats_the_majority():
    train = reviews(POSITIVE, "pos", TOPICS[:4]) + reviews(NEGATIVE, "neg", TOPICS[:3])  # 12 pos, 9 neg
    test = reviews(POSITIVE, "pos", TOPICS[4:]) + reviews(NEGATIVE, "neg", TOPICS[4:])  # unseen pairs
    scores = baselines(prepared(train, test, ["neg", "pos"]), "test")
    assert scores["nbsvm"]["accuracy"] == 1.0
    assert scores["majority"]["accuracy"] == 0.5


def test_more_than_two_labels_get_one_ratio_each_and_probabilities_that_sum_to_one():
    words = {"pos": "great", "neg": "awful", "neutral": "average"}
    train = [(f"an {word} {topic}", label) for label, word in words.items() for topic in TOPICS[:4]]
    model = nbsvm().fit([t for t, _ in train], [label for _, label in train])
    labels = list(model.classes_)
    assert labels == ["neg", "neutral", "pos"]
    for k, label in enumerate(labels):  # each class's own word marks it and no other class
        r, vocabulary = model[-1].estimators_[k].r_, model[0].vocabulary_
        assert [r[vocabulary[words[other]]] > 0 for other in labels] == [other == label for other in labels]
    probs = model.predict_proba([f"an {words[label]} ending" for label in labels])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert list(probs.argmax(axis=1)) == [0, 1, 2]


def test_every_baseline_reports_the_same_metrics():
    train = reviews(POSITIVE, "pos", TOPICS[:3]) + reviews(NEGATIVE, "neg", TOPICS[:3])
    test = reviews(POSITIVE[:1], "pos", TOPICS[3:]) + reviews(NEGATIVE[:1], "neg", TOPICS[3:])
    scores = baselines(prepared(train, test, ["neg", "pos"]), "test")
    assert list(scores) == ["majority", "tfidf_logreg", "nbsvm"]
    expected = {"accuracy", "macro_precision", "macro_recall", "macro_f1", "roc_auc"}
    for name, metrics in scores.items():
        assert set(metrics) == expected, name
        assert all(0.0 <= value <= 1.0 for value in metrics.values()), name


def test_counting_the_texts_once_for_both_baselines_scores_as_each_pipeline_alone():
    """`baselines` shares one n-gram count between TF-IDF and NBSVM (most of their cost on documents); each
    must score exactly as its own whole pipeline fitted on the texts."""
    train = [("a good film", "pos"), ("good plot and cast", "pos"), ("a bad film", "neg"),
             ("bad dull plot", "neg"),
             ("fine good acting", "pos"), ("dull bad acting", "neg")]
    test = [("good cast", "pos"), ("dull film", "neg"), ("a fine plot", "pos")]
    data = prepared(train, test, ["neg", "pos"])
    shared = baselines(data, "test")
    for name in ("tfidf_logreg", "nbsvm"):
        alone = BASELINES[name](data, "test")
        assert alone == pytest.approx(shared[name], abs=1e-12), name
    probs = tfidf_logreg().fit(data.texts["train"], data.label_ids["train"]).predict_proba(data.texts["test"])
    auc = roc_auc_score(data.label_ids["test"], probs[:, 1])
    assert shared["tfidf_logreg"]["roc_auc"] == pytest.approx(auc)


def test_a_bar_on_a_terminal_names_each_step_of_the_baselines(monkeypatch):
    terminal = on_a_terminal(monkeypatch)
    train = reviews(POSITIVE, "pos", TOPICS[:3]) + reviews(NEGATIVE, "neg", TOPICS[:3])
    baselines(prepared(train, train[:2], ["neg", "pos"]), "test")
    shown = terminal.getvalue()
    steps = ["counting the training texts' n-grams:   0%", "counting the test texts' n-grams:  25%",
             "fitting tfidf_logreg:  50%", "fitting nbsvm:  75%"]
    assert all(f"baselines: {step}" in shown for step in steps), shown
