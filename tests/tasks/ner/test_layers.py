"""The tagger's in-graph token features: lower-casing, casing classes, the restored word mask, and the
sentence as a character language model reads it."""
import numpy as np

from tasks.ner.layers import Casing, Lowercase, SentenceChars, TokenMask, WordEdges
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


CHARS = ["", "<unk>", "\n", " ", "E", "U", "r", "e", "j", "c", "t", "s"]  # a character LM's vocabulary


def test_a_sentence_is_a_line_of_characters_with_each_words_edges(tmp_path):
    tokens = np.array([["EU", "rejects", ""], ["sex", "", ""]])
    ids, first, last = (np.asarray(x) for x in run_layer_test(
        SentenceChars, {"vocabulary": CHARS[2:]}, tokens, tmp_path, expected_output_shape=[(2, 12), (2, 3), (2, 3)]))
    assert [CHARS[i] for i in ids[0]] == list("\nEU rejects\n")
    assert [CHARS[i] for i in ids[1]] == ["\n", "s", "e", "<unk>", "\n"] + [""] * 7  # x: unknown
    assert first.tolist() == [[1, 4, 0], [1, 0, 0]]
    assert last.tolist() == [[2, 10, 0], [3, 0, 0]]


def test_word_edges_take_the_forward_state_at_the_last_character_and_the_backward_at_the_first(tmp_path):
    states = np.arange(2 * 5 * 4, dtype="float32").reshape(2, 5, 4)  # 2 units a direction
    first, last = np.array([[1, 3], [2, 0]]), np.array([[2, 4], [2, 0]])
    out = np.asarray(run_layer_test(WordEdges, {}, [states, first, last], tmp_path, expected_output_shape=(2, 2, 4)))
    np.testing.assert_array_equal(out[0, 0], [*states[0, 2, :2], *states[0, 1, 2:]])
    np.testing.assert_array_equal(out[0, 1], [*states[0, 4, :2], *states[0, 3, 2:]])
