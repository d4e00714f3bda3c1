"""Character language-model features (contextual string embeddings): the states at each word's edges,
the runs they come from, frozen weights, the recipe end to end (the layers: test_layers.py)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from common import lifecycle
from common.errors import ConfigError, DataError
from common.io import read_json
from common.pretrained.recipe import with_pretraining_folder
from tasks.ner import TASK
from tasks.ner.char_lm import char_lm_features, load_char_lms
from tests.harness import serve_in_fresh_process
from tests.tasks.language_model.helpers import lm_run
from tests.tasks.ner.helpers import tiny_config

CHARS = ["", "<unk>", "\n", " ", "E", "U", "r", "e", "j", "c", "t", "s"]


def char_lms(folder):
    lm_run(folder / "forward", embedding_dim=4, units=3, layers=1, vocabulary=CHARS)
    lm_run(folder / "backward", direction="backward", embedding_dim=4, units=3, layers=1, vocabulary=CHARS)
    return folder


def lm_states(run, ids):
    """A language-model run's recurrent states over one line of ids."""
    lm = keras.saving.load_model(str(run / "model.keras"), compile=False)
    return lm.get_layer("recurrent")(lm.get_layer("embedding")(np.array([ids]))).numpy()[0]


def test_the_features_are_each_char_lms_states_at_the_words_edges(tmp_path):
    encoder = load_char_lms(char_lms(tmp_path / "lms"))
    tokens = keras.Input((None,), dtype="string")
    model = keras.Model(tokens, char_lm_features(tokens, encoder, "auto"))
    out = model(tf.constant([["EU", "rejects"]])).numpy()[0]
    text = [CHARS.index(c) for c in "\nEU rejects\n"]
    np.testing.assert_allclose(out[1, :3], lm_states(tmp_path / "lms" / "forward", text)[10],
                               atol=1e-5)  # after the "s" of rejects
    reversed_states = lm_states(tmp_path / "lms" / "backward", text[::-1])  # read right to left
    np.testing.assert_allclose(out[1, 3:], reversed_states[len(text) - 1 - 4], atol=1e-5)  # at its "r"


def test_a_missing_backward_char_lm_or_a_word_lm_is_one_error(tmp_path):
    lm_run(tmp_path / "one" / "forward", embedding_dim=4, units=3, layers=1, vocabulary=CHARS)
    with pytest.raises(DataError, match="model.char_lm.path.*no backward"):
        load_char_lms(tmp_path / "one")
    lm_run(tmp_path / "words" / "forward")
    with pytest.raises(DataError, match="model.char_lm.path.*not a char-level"):
        load_char_lms(tmp_path / "words")


def test_the_recipe_keeps_its_char_lms_in_the_run_folder(tmp_path):
    config = with_pretraining_folder(tiny_config(tmp_path, "model.char_lm.epochs=1"), tmp_path / "run")
    assert config.model.char_lm.run_dir == str(tmp_path / "run" / "char_lm")


def test_given_runs_and_the_recipe_are_refused_together(tmp_path):
    with pytest.raises(ConfigError, match="model.char_lm.epochs"):
        tiny_config(tmp_path, "model.char_lm.path=lms", "model.char_lm.epochs=1")


@pytest.mark.slow  # two character language models and a tagger: about a minute alone, more under load
def test_the_recipe_trains_char_lms_then_a_tagger_that_reads_them_frozen_and_exports(tmp_path):
    config = tiny_config(tmp_path, "model.char_lm.epochs=1", "model.char_lm.units=4",
                         "model.char_lm.embedding_dim=4", "model.char_lm.bptt=16")
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    summary = read_json(run.state_path)["char_lm"]
    assert summary["forward"].endswith("char_lm/forward") and summary["backward"].endswith("char_lm/backward")
    corpus = (run.path / "char_lm" / "corpus.txt").read_text(encoding="utf-8").splitlines()
    assert corpus == [" ".join(s.tokens) for s in TASK.prepare(config).sentences["train"]]  # cased, train only
    model = lifecycle.load_run(TASK, run.path)[3]
    kernel = model.get_layer("char_lm_recurrent").rnns[0].forward_layer.get_weights()[1]
    assert np.array_equal(kernel, load_char_lms(run.path / "char_lm").forward.cells[0][1])  # unmoved
    assert "character language models" in (run.export_dir / "model_card.md").read_text(encoding="utf-8")
    assert lifecycle.evaluate(TASK, run.path, "val")[1]["val"]["f1"] >= 0.0  # the saved run, read back
    out = serve_in_fresh_process(run.export_dir, {"tokens": np.array([["Peter", "visited", "Paris"]])}, tmp_path)
    assert len(out) > 0
