"""The tagger's in-graph token features: lower-casing, casing classes and the restored word mask."""
import numpy as np

from tasks.ner.layers import Casing, Lowercase, TokenMask
from tests.harness import run_layer_test


def test_lowercase_is_unicode_aware(tmp_path):
    tokens = np.array([["EU", "Ünïcödé", "ÅBERG", ""]])
    out = run_layer_test(Lowercase, {}, tokens, tmp_path, expected_output_shape=(1, 4))
    assert [[t.decode("utf-8") for t in row] for row in np.asarray(out)] == [["eu", "ünïcödé", "åberg", ""]]


def test_casing_classes(tmp_path):
    tokens = np.array([["EU", "Smith", "1996", "rejects", ",", "iPhone3", ""]])
    ids = np.asarray(run_layer_test(Casing, {}, tokens, tmp_path, expected_output_shape=(1, 7)))[0]
    # all_upper, initial_upper, numeric, lower, other, has_digit, padding
    assert ids.tolist() == [3, 4, 2, 6, 1, 5, 0]


def test_token_mask_passes_features_and_masks_padded_words(tmp_path):
    features = np.arange(12, dtype="float32").reshape(1, 4, 3)
    ids = np.array([[4, 1, 0, 0]], dtype="int64")
    out = run_layer_test(TokenMask, {}, [features, ids], tmp_path, expected_output_shape=(1, 4, 3),
                         expected_mask=np.array([[True, True, False, False]]))
    np.testing.assert_array_equal(np.asarray(out), features)
