"""The linear-chain CRF against brute-force enumeration of every tag path on tiny inputs."""
import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.layers.crf import CRF, CRFTagger
from tests.harness import run_layer_test

NUM_TAGS, LENGTH = 3, 4


def random_crf(seed=0, allowed=None):
    rng = np.random.default_rng(seed)
    crf = CRF(NUM_TAGS, allowed=allowed)
    crf.build()
    crf.transitions.assign(rng.normal(size=(NUM_TAGS, NUM_TAGS)).astype("float32"))
    crf.start_scores.assign(rng.normal(size=NUM_TAGS).astype("float32"))
    crf.end_scores.assign(rng.normal(size=NUM_TAGS).astype("float32"))
    return crf


def brute_force(crf, emissions, length, allowed=None):
    """Every path's score by direct summation: (log Z, best path, score of each path)."""
    trans, start, end = (v.numpy() for v in (crf.transitions, crf.start_scores, crf.end_scores))
    scores = {}
    for path in itertools.product(range(NUM_TAGS), repeat=length):
        s = start[path[0]] + end[path[-1]] + sum(emissions[t, path[t]] for t in range(length))
        s += sum(trans[path[t - 1], path[t]] for t in range(1, length))
        if allowed is not None:
            moves = [(NUM_TAGS, path[0])] + list(zip(path, path[1:])) + [(path[-1], NUM_TAGS + 1)]
            if not all(allowed[a][b] for a, b in moves):
                continue
        scores[path] = s
    values = np.array(list(scores.values()))
    log_z = values.max() + np.log(np.exp(values - values.max()).sum())
    return log_z, max(scores, key=scores.get), scores


def test_log_likelihood_matches_brute_force():
    crf = random_crf()
    emissions = np.random.default_rng(1).normal(size=(1, LENGTH, NUM_TAGS)).astype("float32")
    mask = np.ones((1, LENGTH), bool)
    log_z, _, scores = brute_force(crf, emissions[0], LENGTH)
    path = (2, 0, 1, 1)
    got = crf.log_likelihood(emissions, np.array([path]), mask).numpy()[0]
    assert got == pytest.approx(scores[path] - log_z, abs=1e-4)
    assert crf.log_partition(emissions, mask).numpy()[0] == pytest.approx(log_z, abs=1e-4)


def test_viterbi_finds_the_best_path():
    crf = random_crf(seed=3)
    emissions = np.random.default_rng(4).normal(size=(1, LENGTH, NUM_TAGS)).astype("float32")
    _, best, _ = brute_force(crf, emissions[0], LENGTH)
    assert tuple(crf.decode(emissions, np.ones((1, LENGTH), bool)).numpy()[0]) == best


def test_constrained_viterbi_never_takes_a_forbidden_move():
    allowed = np.ones((NUM_TAGS + 2, NUM_TAGS + 2), int)
    allowed[0, 1] = allowed[NUM_TAGS, 2] = allowed[1, NUM_TAGS + 1] = 0  # 0->1, START->2, 1->END
    crf = random_crf(seed=5, allowed=allowed.tolist())
    emissions = np.random.default_rng(6).normal(size=(1, LENGTH, NUM_TAGS)).astype("float32")
    _, best, _ = brute_force(crf, emissions[0], LENGTH, allowed=allowed)
    assert tuple(crf.decode(emissions, np.ones((1, LENGTH), bool)).numpy()[0]) == best


def test_padding_does_not_change_likelihood_or_path():
    crf = random_crf(seed=7)
    rng = np.random.default_rng(8)
    short = rng.normal(size=(1, 2, NUM_TAGS)).astype("float32")
    padded = np.concatenate([short, rng.normal(size=(1, 3, NUM_TAGS)).astype("float32") * 10], axis=1)
    mask = np.array([[True, True, False, False, False]])
    tags = np.array([[1, 2]])
    tags_padded = np.array([[1, 2, -1, -1, -1]])
    assert crf.log_likelihood(padded, tags_padded, mask).numpy()[0] == pytest.approx(
        crf.log_likelihood(short, tags, np.ones((1, 2), bool)).numpy()[0], abs=1e-5)
    log_z, best, _ = brute_force(crf, short[0], 2)
    assert tuple(crf.decode(padded, mask).numpy()[0, :2]) == best


def test_batches_mix_lengths_including_one_token():
    crf = random_crf(seed=9)
    emissions = np.random.default_rng(10).normal(size=(2, 3, NUM_TAGS)).astype("float32")
    mask = np.array([[True, False, False], [True, True, True]])
    for row, length in enumerate((1, 3)):
        log_z, best, _ = brute_force(crf, emissions[row], length)
        assert crf.log_partition(emissions, mask).numpy()[row] == pytest.approx(log_z, abs=1e-4)
        assert tuple(crf.decode(emissions, mask).numpy()[row, :length]) == best


def test_crf_tagger_trains_and_reloads_from_model_keras(tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(5, 4, mask_zero=True)(inputs)
    outputs = CRF(NUM_TAGS, name="crf")(keras.layers.Dense(NUM_TAGS)(x))
    model = CRFTagger(inputs, outputs)
    model.compile(optimizer="adam")
    words = np.array([[1, 2, 3, 0], [4, 1, 0, 0]])
    tags = np.array([[0, 1, 2, -1], [2, 0, -1, -1]])
    history = model.fit(words, tags, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(again, CRFTagger)
    np.testing.assert_allclose(again.crf.transitions.numpy(), model.crf.transitions.numpy())
    mask = tf.constant(words > 0)
    np.testing.assert_array_equal(again.decode(words, mask).numpy(), model.decode(words, mask).numpy())


def test_a_batch_of_one_token_sentences_decodes():
    crf = random_crf(seed=11)
    emissions = np.random.default_rng(12).normal(size=(2, 1, NUM_TAGS)).astype("float32")
    mask = np.ones((2, 1), bool)
    decode = tf.function(crf.decode, input_signature=[tf.TensorSpec([None, None, NUM_TAGS]),
                                                      tf.TensorSpec([None, None], tf.bool)])
    for row in range(2):
        log_z, best, _ = brute_force(crf, emissions[row], 1)
        assert tuple(decode(emissions, mask).numpy()[row]) == best
        assert crf.log_partition(emissions, mask).numpy()[row] == pytest.approx(log_z, abs=1e-4)


@pytest.mark.parametrize("allowed", [None, np.eye(NUM_TAGS + 2, dtype=int).tolist()],
                         ids=["free", "constrained"])
def test_crf_passes_the_layer_harness(allowed, tmp_path):
    emissions = np.random.default_rng(13).normal(size=(2, LENGTH, NUM_TAGS)).astype("float32")
    mask = np.array([[True, True, False, False], [True] * LENGTH])
    run_layer_test(CRF, {"num_tags": NUM_TAGS, "allowed": allowed}, emissions, tmp_path, input_mask=mask,
                   expected_output_shape=(2, LENGTH, NUM_TAGS), expected_mask=mask)
