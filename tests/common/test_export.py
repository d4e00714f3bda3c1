"""Export helpers: the in-graph vocabulary lookup that exported graphs carry as plain tensors."""
import pytest
import tensorflow as tf

from common.export import VocabularyIndex

VOCAB = ["", "[UNK]", "[START]", "der", "hund", "."]


def test_tokens_map_to_their_vocabulary_positions_and_unknown_ones_to_unk():
    index = VocabularyIndex(VOCAB, "[UNK]", reserved=("", "[START]"))
    ids = index(tf.ragged.constant([["der", "hund", "schläft", "."], []]))
    assert ids.to_list() == [[3, 4, 1, 5], []]


def test_reserved_tokens_in_input_text_are_unknown():
    index = VocabularyIndex(VOCAB, "[UNK]", reserved=("", "[START]"))
    assert index(tf.ragged.constant([["[START]", ""]])).to_list() == [[1, 1]]


def test_a_vocabulary_of_only_reserved_tokens_maps_everything_to_unknown():
    index = VocabularyIndex(["", "<unk>"], "<unk>")
    assert index(tf.ragged.constant([["a", "b"]])).to_list() == [[1, 1]]


def test_the_unknown_token_must_be_in_the_vocabulary():
    with pytest.raises(ValueError):
        VocabularyIndex(["", "a"], "<unk>")
