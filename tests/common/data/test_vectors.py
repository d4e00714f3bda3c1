"""Pretrained word vectors (GloVe / word2vec text) into an embedding matrix."""
import gzip

import numpy as np
import pytest

from common.data.vectors import load_vectors
from common.errors import DataError

VOCAB = ["", "[UNK]", "good", "Bad", "film"]


def write(tmp_path, text, name="vectors.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_glove_rows_follow_the_vocabulary_order(tmp_path):
    path = write(tmp_path, "film 0.5 0.5 0.5\ngood 1 2 3\nunrelated 9 9 9\n")
    matrix, hits = load_vectors(path, VOCAB, 3)
    assert matrix.shape == (5, 3)
    np.testing.assert_allclose(matrix[2], [1, 2, 3])
    np.testing.assert_allclose(matrix[4], [0.5, 0.5, 0.5])
    assert hits == 2


def test_padding_row_is_zero_and_missing_words_get_small_random_vectors(tmp_path):
    matrix, _ = load_vectors(write(tmp_path, "good 1 2 3\n"), VOCAB, 3, seed=1)
    assert np.all(matrix[0] == 0)
    assert np.any(matrix[1] != 0)


def test_word2vec_header_line_is_skipped(tmp_path):
    matrix, hits = load_vectors(write(tmp_path, "2 3\ngood 1 2 3\nfilm 4 5 6\n"), VOCAB, 3)
    assert hits == 2
    np.testing.assert_allclose(matrix[4], [4, 5, 6])


def test_a_word_missing_as_written_falls_back_to_its_lowercase_form(tmp_path):
    matrix, hits = load_vectors(write(tmp_path, "bad 7 7 7\n"), VOCAB, 3)
    np.testing.assert_allclose(matrix[3], [7, 7, 7])
    assert hits == 1


def test_an_exact_match_beats_the_lowercase_fallback(tmp_path):
    matrix, _ = load_vectors(write(tmp_path, "bad 7 7 7\nBad 1 1 1\n"), VOCAB, 3)
    np.testing.assert_allclose(matrix[3], [1, 1, 1])


def test_gzipped_files_are_read_directly(tmp_path):
    path = tmp_path / "vectors.txt.gz"
    path.write_bytes(gzip.compress(b"good 1 2 3\n"))
    assert load_vectors(path, VOCAB, 3)[1] == 1


def test_wrong_dimension_names_line_and_the_files_dimension(tmp_path):
    with pytest.raises(DataError, match=r"vectors.txt:2: 2 numbers .* dimension is 3; set it to .* \(2\)"):
        load_vectors(write(tmp_path, "good 1 2 3\nfilm 1 2\n"), VOCAB, 3)


def test_non_numeric_values_name_the_line(tmp_path):
    with pytest.raises(DataError, match=r"vectors.txt:1: the values after 'good' are not all numbers"):
        load_vectors(write(tmp_path, "good 1 x 3\n"), VOCAB, 3)


def test_binary_file_is_reported_as_not_text(tmp_path):
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"good \xff\xfe\x00\x01")
    with pytest.raises(DataError, match="not valid utf-8 text.*binary word2vec"):
        load_vectors(path, VOCAB, 3)


def test_missing_file_and_no_shared_words_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="word-vector file not found"):
        load_vectors(tmp_path / "nope.txt", VOCAB, 3)
    with pytest.raises(DataError, match="none of the 5 vocabulary words has a vector"):
        load_vectors(write(tmp_path, "other 1 2 3\n"), VOCAB, 3)
