"""Sentiment on a pretrained encoder: the whole recipe (LM on the demo text -> fine-tune -> export)."""
import numpy as np
import pytest

from common import config as cfg
from common import lifecycle
from common.io import read_json
from common.pretrained.runs import read_language_model
from tasks.sentiment import TASK
from tasks.sentiment.pretraining import standardiser
from tests.conftest import REPO
from tests.harness import serve_in_fresh_process
from tests.tasks.language_model.helpers import lm_run
from tests.tasks.sentiment.helpers import TINY, load


def test_lm_text_is_standardised_as_the_vectorizer_reads_it():
    assert standardiser("lower_and_strip_punctuation")(["It's GREAT, isn't it?"]) == ["its great isnt it"]


@pytest.mark.slow  # two language models and a classifier: about 25 s
def test_the_recipe_pretrains_fine_tunes_and_exports(tmp_path):
    overrides = TASK.demo.make_data(tmp_path / "data", seed=0)
    extra = tmp_path / "unlabelled.txt"
    extra.write_text("an unlabelled sentence about a splendid movie\n", encoding="utf-8")
    config = cfg.with_values(load(), {**overrides, **TINY, "train.epochs": 2, "model.pretraining.enabled": True,
                                      "model.pretraining.epochs": 1, "model.pretraining.extra_text": [str(extra)]})
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    corpus = (run.path / "pretrained_lm" / "corpus.txt").read_text(encoding="utf-8").splitlines()  # --run-dir's
    assert "an unlabelled sentence about a splendid movie" in corpus
    assert len(corpus) == len(TASK.prepare(config, read_json(run.state_path)).texts["train"]) + 1  # no val/test
    summary = read_json(run.state_path)["pretrained_encoder"]
    assert summary["forward"].endswith("forward") and summary["backward"].endswith("backward")
    assert "words shared with the language model" in (run.path / "report.md").read_text(encoding="utf-8")
    assert "pretrained encoder" in (run.export_dir / "model_card.md").read_text(encoding="utf-8")
    out = serve_in_fresh_process(run.export_dir, {"text": np.array(["a splendid movie", ""])}, tmp_path)
    assert out["probabilities"].shape == (2, 2)


def test_by_default_the_classifier_starts_as_the_language_models(tmp_path):
    """``pretrained_as: init`` (the default) through the task's own prepare and build_model: the BiLSTM's
    forward and backward layers hold each LM's cell weights, and a word both vocabularies share gets the
    forward LM's embedding row (the backward LM's rows are not read)."""
    lm_run(tmp_path / "lm" / "forward", embedding_dim=6, units=5, layers=1, cell="gru")
    lm_run(tmp_path / "lm" / "backward", direction="backward", embedding_dim=6, units=5, layers=1, cell="gru")
    overrides = TASK.demo.make_data(tmp_path / "data", seed=0)
    config = cfg.with_values(load(), {**overrides, **TINY, "model.pretrained_encoder": str(tmp_path / "lm"),
                                      "model.embedding_dim": 6, "model.rnn.units": 5})
    assert config.model.pretrained_as == "init" and config.model.rnn.bidirectional
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    forward = read_language_model(tmp_path / "lm" / "forward", "lm")
    backward = read_language_model(tmp_path / "lm" / "backward", "lm")
    layer = model.get_layer("recurrent").rnns[0]
    for got, want in zip(layer.forward_layer.get_weights(), forward.cells[0]):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(layer.backward_layer.get_weights(), backward.cells[0]):
        np.testing.assert_array_equal(got, want)
    vocabulary = prepared.state["vocabulary"]
    word = next(w for w in ("film", "plot", "good", "the") if w in vocabulary)
    np.testing.assert_array_equal(model.get_layer("embedding").get_weights()[0][vocabulary.index(word)],
                                  forward.embeddings[forward.vocabulary.index(word)])


def test_frozen_language_model_features_train_beside_the_encoder_and_export(tmp_path):
    lm_run(tmp_path / "lm" / "forward")  # 6-dim words, 2 x 5 units: not the classifier's shape
    lm_run(tmp_path / "lm" / "backward", direction="backward")
    overrides = TASK.demo.make_data(tmp_path / "data", seed=0)
    config = cfg.with_values(load(), {**overrides, **TINY, "model.pretrained_encoder": str(tmp_path / "lm"),
                                      "model.pretrained_as": "features"})
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    model = lifecycle.load_run(TASK, run.path)[3]
    assert model.get_layer("lm_recurrent").output.shape[-1] == 10  # 5 units a direction
    forward = model.get_layer("lm_recurrent").rnns[0].forward_layer.get_weights()[1]  # unmoved by training:
    assert np.array_equal(forward, read_language_model(tmp_path / "lm" / "forward", "lm").cells[0][1])
    assert "read as the LM's <unk>" in (run.path / "report.md").read_text(encoding="utf-8")
    out = serve_in_fresh_process(run.export_dir, {"text": np.array(["a splendid movie", ""])}, tmp_path)
    assert out["probabilities"].shape == (2, 2)


def test_a_pretrained_encoder_and_pretrained_vectors_are_refused_together():
    with pytest.raises(Exception, match="model.pretrained_vectors"):
        load({"model.pretrained_encoder": "lm", "model.pretrained_vectors": "glove.txt"})


@pytest.mark.slow
def test_sst2_pretrained_config_starts(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, REPO / "configs" / "sentiment_sst2_pretrained.yaml", ["data.max_examples=200", "model.pretraining.epochs=1", "train.epochs=1",
                                    f"model.pretraining.run_dir={tmp_path / 'lm'}", "train.verbose=none"])
    prepared = TASK.prepare(config)
    assert prepared.encoder is not None and prepared.state["pretrained_encoder"]["vocabulary"]["shared"] > 0
