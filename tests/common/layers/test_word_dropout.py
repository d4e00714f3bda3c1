"""WordDropout: known word ids become the unknown id while training, nothing changes at inference."""
import numpy as np

from common.layers.word_dropout import WordDropout
from tests.harness import run_layer_test

IDS = np.array([[5, 6, 7, 8, 0, 0], [1, 2, 3, 0, 0, 0]], dtype="int64")


def test_word_dropout_passes_the_layer_checks(tmp_path):
    outputs = run_layer_test(WordDropout, {"rate": 0.5, "seed": 1}, IDS, tmp_path, expected_output_shape=(2, 6))
    np.testing.assert_array_equal(np.asarray(outputs), IDS)  # not training: the ids pass unchanged


def test_word_dropout_acts_only_in_training_and_spares_padding():
    layer = WordDropout(0.9, seed=1)
    ids = np.array([[5, 6, 7, 8, 0, 0]])
    assert np.array_equal(np.asarray(layer(ids, training=False)), ids)
    dropped = np.asarray(layer(ids, training=True))
    assert set(dropped[0, :4]) <= {1, 5, 6, 7, 8} and (dropped[0, 4:] == 0).all() and (dropped == 1).any()


def test_word_dropout_at_rate_zero_is_the_identity_even_in_training():
    np.testing.assert_array_equal(np.asarray(WordDropout(0.0)(IDS, training=True)), IDS)
