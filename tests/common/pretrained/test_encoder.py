"""An encoder from language-model runs: vocabulary mapping, new words, shape checks."""
import numpy as np
import pytest

from common.errors import ConfigError
from common.layers.recurrent import RNNConfig
from common.pretrained.encoder import load_encoder, map_vocabulary
from common.pretrained.runs import read_language_model
from tests.common.pretrained.helpers import FeatureOptions, Options
from tests.tasks.language_model.helpers import LM_WORDS, lm_run


def test_vocabulary_mapping_counts_shared_new_and_unused_words():
    rows, counts = map_vocabulary(["", "[UNK]", "the", "film", "awful"], LM_WORDS)
    assert rows.tolist() == [0, 1, 3, 4, -1]
    assert counts == {"shared": 2, "new": 1, "unused": 3}  # was, good, plot; <eos> is not a word


def test_new_words_start_from_the_mean_lm_vector(tmp_path):
    lm = read_language_model(lm_run(tmp_path / "lm"), "model.pretrained_encoder")
    encoder = load_encoder(Options(), ["", "[UNK]", "film", "awful"], 6, RNNConfig(units=5, layers=2),
                           tmp_path / "lm")
    np.testing.assert_allclose(encoder.embeddings[2], lm.embeddings[4])
    np.testing.assert_allclose(encoder.embeddings[3], lm.embeddings[1:].mean(axis=0), rtol=1e-6)
    assert encoder.summary["vocabulary"] == {"shared": 1, "new": 1, "unused": 4}
    assert "test perplexity 42" in encoder.summary["info"]["pretrained encoder"]


def test_a_shape_mismatch_is_one_error_naming_the_keys(tmp_path):
    lm_run(tmp_path / "lm")
    with pytest.raises(ConfigError, match=r"model.embedding_dim: 6 \(is 8\).*model.rnn.units: 5 \(is 7\)"):
        load_encoder(Options(), [""], 8, RNNConfig(units=7, layers=2), tmp_path / "lm")


def test_a_frozen_lm_reads_new_words_as_its_unknown_word(tmp_path):
    lm = read_language_model(lm_run(tmp_path / "lm"), "model.pretrained_encoder")
    encoder = load_encoder(FeatureOptions(), ["", "[UNK]", "film", "awful"], 6, RNNConfig(), tmp_path / "lm")
    np.testing.assert_array_equal(encoder.embeddings[3], lm.embeddings[1])  # <unk>
    assert "read as the LM's <unk>" in encoder.summary["info"]["pretrained vocabulary"]
