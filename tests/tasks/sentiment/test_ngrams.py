"""The n-gram path: NBSVM fitted on the training texts (the same decision values as the NBSVM baseline),
read past max_length, blended after training by weights fitted on the validation split, served by the export,
and refused settings; with model.char_ngrams, scikit-learn's char_wb n-grams computed in the graph."""
import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf
from scipy.special import softmax
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.pipeline import FeatureUnion

from common import lifecycle
from common.errors import ConfigError
from tasks.sentiment import TASK
from tasks.sentiment.baselines import TOKENS, NBLogisticRegression, nbsvm
from tasks.sentiment.evaluate import blended_probabilities
from tasks.sentiment.model import predict_probabilities
from tasks.sentiment.ngrams import char_ngram_layer, fit_ngrams, path_logits
from tasks.sentiment.standardize import lower_and_split_punctuation
from tests.harness import serve_calls_in_fresh_process
from tests.tasks.sentiment.helpers import LONG_TEXT, load, tiny_prepared

TEXTS = ["good good film", "good plot", "bad film", "bad plot", "a good cast", "a bad cast and plot"]
LABELS = np.array([1, 1, 0, 0, 1, 0])


def test_ratios_of_uni_and_bigrams_match_the_hand_computation():
    config = load(**{"model.ngrams": 2})
    features = fit_ngrams(config.model, ["good film", "good plot", "bad film"], np.array([1, 1, 0]), 2)
    assert set(features.vocabulary) == {"good", "film", "plot", "bad", "good film", "good plot", "bad film"}
    row = {gram: i + 1 for i, gram in enumerate(features.vocabulary)}  # row 0: out of vocabulary
    # Once per text: the positive texts hold 6 n-gram occurrences, the negative one 3; add alpha = 1 to
    # each of the 7 n-grams: |p|_1 = 13, |q|_1 = 10.
    by_hand = {"good": np.log((2 + 1) / 13 / ((0 + 1) / 10)),       # log(30/13)
               "film": np.log((1 + 1) / 13 / ((1 + 1) / 10)),       # log(10/13)
               "bad film": np.log((0 + 1) / 13 / ((1 + 1) / 10))}   # log(5/13)
    for gram, expected in by_hand.items():
        assert features.ratios[row[gram], 1] == pytest.approx(expected, abs=1e-5)
    assert not features.ratios[:, 0].any() and not features.ratios[0].any()  # two classes: one classifier


def test_the_path_computes_the_nbsvm_baselines_decision_values():
    config = load(**{"model.ngrams": 2})
    features = fit_ngrams(config.model, TEXTS, LABELS, 2)
    baseline = nbsvm().fit(TEXTS, LABELS)
    tests = ["good cast", "bad plot and film", "a film"]
    grams = {gram: i + 1 for i, gram in enumerate(features.vocabulary)}
    ours = []
    for text in tests:
        words = text.split()
        present = {grams[g] for g in words + [" ".join(p) for p in zip(words, words[1:])] if g in grams}
        x = np.zeros(len(grams) + 1)
        x[list(present)] = 1
        z = x @ (features.ratios * features.kernel) + features.bias
        ours.append(z[1] - z[0])
    decision = baseline[-1].estimators_[0].classifier_.decision_function(
        baseline[-1].estimators_[0]._scaled(baseline[1].transform(baseline[0].transform(tests))))
    np.testing.assert_allclose(ours, decision, atol=1e-4)


def test_the_most_frequent_n_grams_are_kept():
    config = load(**{"model.ngrams": 1, "model.ngram_max_tokens": 3})
    features = fit_ngrams(config.model, ["a a a b b c", "a b"], np.array([1, 0]), 2)
    assert features.vocabulary == ["a", "b"]  # max_tokens counts the out-of-vocabulary entry


def test_the_recurrent_path_alone_trains_and_the_n_gram_path_reads_past_max_length(tmp_path):
    config, prepared = tiny_prepared(tmp_path, **{"model.ngrams": 2, "model.max_length": 2})
    model = TASK.build_model(config, prepared)
    assert model.get_layer("ngram_logits").trainable_weights == []  # NBSVM is fitted, not trained here
    np.testing.assert_array_equal(model.get_layer("blend").blend_weights.numpy(), [1.0, 0.0])
    texts = ["film film good", "film film bad"]
    recurrent, ngrams = path_logits(model, texts)
    np.testing.assert_allclose(recurrent[0], recurrent[1], atol=1e-6)  # it stops after 2 words
    assert ngrams[0, 1] - ngrams[0, 0] > ngrams[1, 1] - ngrams[1, 0] + 0.5  # "good" vs "bad" after them


def test_the_n_gram_path_is_fitted_only_when_a_run_trains(tmp_path):
    config, prepared = tiny_prepared(tmp_path, **{"model.ngrams": 2})
    assert prepared.ngrams is not None and "n-gram path" in prepared.info
    assert TASK.prepare(config, prepared.state).ngrams is None  # evaluation reads the model's own


def test_a_max_ngram_count_without_ngrams_is_refused():
    with pytest.raises(ConfigError, match="model.ngram_max_tokens.*model.ngrams is 0"):
        load(**{"model.ngram_max_tokens": 5000})


CHAR_TEXTS = ["A good  film!", "x", "Éclair wonderful", "ok, it's UNWATCHABLE", "an ok film"]


@pytest.mark.parametrize("grams", [[2, 5], [4, 5]])  # [4, 5]: " x " and " a " are shorter, kept whole
def test_character_n_grams_in_the_graph_are_scikit_learns_char_wb_of_the_standardized_words(grams):
    config = load(**{"model.ngrams": 1, "model.char_ngrams": grams,
                     "model.standardize": "lower_and_split_punctuation"})
    features = fit_ngrams(config.model, CHAR_TEXTS, np.array([1, 0, 1, 0, 1]), 2)
    layer = char_ngram_layer(config.model, features.char_vocabulary)
    x = layer(tf.constant(CHAR_TEXTS + ["zz"]))
    active = [set() for _ in range(len(CHAR_TEXTS) + 1)]
    for row, column in x.indices.numpy():
        active[row].add(features.char_vocabulary[column - 1] if column else None)  # column 0: unseen
    standardized = [t.decode("utf-8") for t in lower_and_split_punctuation(tf.constant(CHAR_TEXTS)).numpy()]
    char_wb = CountVectorizer(analyzer="char_wb", ngram_range=tuple(grams), lowercase=False).build_analyzer()
    assert active[:-1] == [set(char_wb(text)) for text in standardized]
    assert active[-1] == {None}  # " zz" and "zz " never occurred in training
    if grams == [2, 5]:  # "!" is a word of its own (" ! "), not a character of "film!"
        assert {" fi", "film", "ilm ", "m!", " ! "} & active[0] == {" fi", "film", "ilm ", " ! "}


def test_character_n_grams_join_the_word_n_grams_in_one_nbsvm(tmp_path):
    """The graph's n-gram logits are the decision values of NBSVM on scikit-learn's word n-grams and char_wb
    n-grams side by side, so the two layers' columns line up with the weights fitted for them."""
    config, prepared = tiny_prepared(tmp_path, **{"model.ngrams": 2, "model.char_ngrams": [2, 4]})
    prepared = dataclasses.replace(prepared, ngrams=fit_ngrams(config.model, TEXTS, LABELS, 2))
    model = TASK.build_model(config, prepared)
    tests = ["good cast", "bad plot and film", "a film", "goodness", "badly"]
    _, ngrams = path_logits(model, tests)
    union = FeatureUnion([("words", CountVectorizer(ngram_range=(1, 2), token_pattern=TOKENS, binary=True)),
                          ("chars", CountVectorizer(analyzer="char_wb", ngram_range=(2, 4), binary=True))])
    baseline = NBLogisticRegression().fit(union.fit_transform(TEXTS), LABELS)
    decision = baseline.classifier_.decision_function(baseline._scaled(union.transform(tests)))
    np.testing.assert_allclose(ngrams[:, 1] - ngrams[:, 0], decision, atol=1e-4)
    assert decision[3] > 0 > decision[4]  # unseen words, scored by the characters they share with seen ones


def test_without_character_n_grams_the_path_reads_word_n_grams_only(tmp_path):
    config, prepared = tiny_prepared(tmp_path, **{"model.ngrams": 2})
    assert config.model.char_ngrams == [] and prepared.ngrams.char_vocabulary == []
    model = TASK.build_model(config, prepared)
    assert model.get_layer("ngram_logits").ratios.shape[0] == len(prepared.ngrams.vocabulary) + 1
    _, ngrams = path_logits(model, ["goodness", "badly"])
    np.testing.assert_array_equal(ngrams[0], ngrams[1])  # both texts' words are unseen


@pytest.fixture(scope="module")
def blended_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("blended")
    config, _ = tiny_prepared(tmp_path, **{"model.ngrams": 2, "train.epochs": 2})
    run, metrics = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *a: None)
    _, _, _, model = lifecycle.load_run(TASK, run.path)
    return run, metrics, model, tmp_path


def test_training_blends_the_paths_by_weights_fitted_on_validation(blended_run):
    run, metrics, model, _ = blended_run
    weights = model.get_layer("blend").blend_weights.numpy()
    recorded = metrics["training"]["calibration"]
    assert list(recorded["blend_weights"].values()) == pytest.approx(weights.tolist(), abs=1e-4)
    assert weights[1] > 0  # the tiny data's words tell the classes apart: the n-gram path gets weight
    assert json.loads(run.training_path.read_text())["calibration"] == recorded
    texts = ["good film 3", "bad film 3", LONG_TEXT]
    blended = softmax(sum(w * z for w, z in zip(weights, path_logits(model, texts))), axis=1)
    np.testing.assert_allclose(predict_probabilities(model, texts), blended, atol=1e-5)


def test_evaluation_computes_from_the_paths_what_the_model_outputs(blended_run):
    _, _, model, _ = blended_run
    texts = ["good film 3", "bad film 3", "good", LONG_TEXT]
    np.testing.assert_allclose(blended_probabilities(model, path_logits(model, texts)),
                               predict_probabilities(model, texts), atol=1e-5)


def test_evaluation_reports_each_path_alone(blended_run):
    _, metrics, _, _ = blended_run
    paths = metrics["test"]["paths"]
    assert set(paths) == {"recurrent", "ngrams"} and paths["ngrams"]["accuracy"] == pytest.approx(1.0)


def test_a_blended_run_serves_from_its_export_what_its_model_computes(blended_run):
    run, _, model, tmp_path = blended_run
    texts = np.array(["good film 3", "bad film 3", "good", LONG_TEXT], dtype=str)
    [served] = serve_calls_in_fresh_process(run.export_dir, [("serving_default", {"text": texts})], tmp_path)
    np.testing.assert_allclose(served["probabilities"], predict_probabilities(model, texts.tolist()), atol=1e-5)


def test_a_run_with_character_n_grams_serves_raw_text_from_its_export(tmp_path):
    config, _ = tiny_prepared(tmp_path, **{"model.ngrams": 2, "model.char_ngrams": [2, 5]})
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *a: None)
    _, _, _, model = lifecycle.load_run(TASK, run.path)  # the saved model rebuilds its character split
    _, ngrams = path_logits(model, ["goodness", "badly"])
    assert ngrams[0, 1] - ngrams[0, 0] > 0 > ngrams[1, 1] - ngrams[1, 0]  # unseen words, seen characters
    texts = np.array(["goodness 3", "badly 3", "good", LONG_TEXT], dtype=str)
    [served] = serve_calls_in_fresh_process(run.export_dir, [("serving_default", {"text": texts})], tmp_path)
    np.testing.assert_allclose(served["probabilities"], predict_probabilities(model, texts.tolist()),
                               atol=1e-5)
