"""Character-level word encoders and the in-graph char-id lookup."""
import numpy as np
import pytest
import tensorflow as tf

from common.layers.char_encoders import CharBiLSTM, CharCNN, CharIds, char_encoder
from tests.harness import NO_MASK, run_layer_test

# 2 sentences x 3 words x 4 chars; the second sentence's last word is padding (all zeros).
CHARS = np.array([[[2, 3, 4, 0], [5, 0, 0, 0], [6, 7, 8, 9]],
                  [[3, 3, 0, 0], [9, 8, 0, 0], [0, 0, 0, 0]]], dtype="int32")
TOKENS = tf.constant([["ab", "zzz", "abcdef"], ["b", "", "caf\xe9"]])


@pytest.mark.parametrize("init_kwargs", [{"num_chars": 10, "char_dim": 5, "units": 3}, {"num_chars": 10}])
def test_char_bilstm_passes_the_layer_harness(init_kwargs, tmp_path):
    width = 2 * init_kwargs.get("units", 25)
    run_layer_test(CharBiLSTM, init_kwargs, CHARS, tmp_path, expected_output_shape=(2, 3, width),
                   expected_mask=NO_MASK)


@pytest.mark.parametrize("init_kwargs", [{"num_chars": 10, "char_dim": 5, "filters": 4, "kernel_size": 2},
                                         {"num_chars": 10}])
def test_char_cnn_passes_the_layer_harness(init_kwargs, tmp_path):
    run_layer_test(CharCNN, init_kwargs, CHARS, tmp_path,
                   expected_output_shape=(2, 3, init_kwargs.get("filters", 30)), expected_mask=NO_MASK)


def test_char_ids_passes_the_layer_harness(tmp_path):
    run_layer_test(CharIds, {"vocabulary": list("abc"), "max_chars": 4}, TOKENS, tmp_path,
                   expected_output_shape=(2, 3, 4), expected_mask=NO_MASK)


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_a_padded_word_encodes_to_zeros(kind):
    encoded = np.asarray(char_encoder(kind, num_chars=10, char_dim=5, units=3)(CHARS))
    assert np.all(encoded[1, 2] == 0.0)
    assert np.any(encoded[0] != 0.0, axis=-1).all()


def test_char_ids_pad_with_zero_cut_long_words_and_map_unknown_characters_to_one():
    ids = np.asarray(CharIds(vocabulary=list("abc"), max_chars=4)(TOKENS))
    # ids: 0 padding, 1 unknown, then a=2, b=3, c=4
    np.testing.assert_array_equal(ids[0], [[2, 3, 0, 0], [1, 1, 1, 0], [2, 3, 4, 1]])
    np.testing.assert_array_equal(ids[1], [[3, 0, 0, 0], [0, 0, 0, 0], [4, 2, 1, 1]])


def test_unknown_encoder_kind_is_refused():
    with pytest.raises(ValueError, match="use bilstm or cnn"):
        char_encoder("transformer", 10, 5, 3)
