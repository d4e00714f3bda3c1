"""The recipe: language models in the run folder, the second stage, the sampled softmax, the leakage guard."""
import pytest

from common import lifecycle
from common.errors import DataError
from common.io import read_json
from common.pretrained.recipe import pretrain, with_pretraining_folder
from tasks.language_model import TASK as LM_TASK
from tests.tasks.sentiment.helpers import load as load_sentiment


def test_the_recipe_keeps_its_language_models_in_the_run_folder(tmp_path):
    config = load_sentiment({"model.pretraining.enabled": True})
    assert with_pretraining_folder(config, tmp_path / "run").model.pretraining.run_dir == str(
        tmp_path / "run" / "pretrained_lm")


def test_a_given_pretraining_folder_or_no_recipe_leaves_the_config_alone(tmp_path):
    given = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.run_dir": "lms"})
    assert with_pretraining_folder(given, tmp_path).model.pretraining.run_dir == "lms"
    off = load_sentiment()
    assert with_pretraining_folder(off, tmp_path) is off


def test_the_second_stage_starts_from_the_first_and_reads_the_training_texts_alone(tmp_path):
    extra = tmp_path / "general.txt"
    extra.write_text("a general sentence about zebras\n" * 30, encoding="utf-8")  # the end is the LM's val split
    config = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.extra_text": f"[{extra}]",
                             "model.pretraining.epochs": 1, "model.pretraining.in_domain_epochs": 1,
                             "model.pretraining.run_dir": str(tmp_path / "lm"), "model.rnn.bidirectional": False,
                             "model.rnn.units": 4, "model.embedding_dim": 4,
                             "model.pretraining.batch_size": 4, "train.verbose": "none"})
    texts = ["the film was good", "the plot was dull"] * 5
    folder = pretrain("sentiment", config, texts, lambda texts: texts, log=lambda *_: None)
    assert folder == tmp_path / "lm" / "in_domain"
    assert (folder / "corpus.txt").read_text(encoding="utf-8") == "the film was good\nthe plot was dull\n" * 5
    second = lifecycle.load_config(LM_TASK, folder / "forward" / "config.yaml", saved_run=True)
    assert second.model.init_from == str((tmp_path / "lm" / "forward").resolve()) and second.train.epochs == 1
    vocabulary = read_json(folder / "forward" / "state.json")["vocabulary"]
    assert "zebras" in vocabulary  # the first stage's vocabulary, kept
    assert vocabulary == read_json(tmp_path / "lm" / "forward" / "state.json")["vocabulary"]


def test_the_recipe_trains_its_language_models_with_the_sampled_softmax(tmp_path):
    config = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.epochs": 1,
                             "model.pretraining.sampled_softmax": 2, "model.pretraining.run_dir": str(tmp_path),
                             "model.rnn.bidirectional": False, "model.rnn.units": 4, "model.embedding_dim": 4,
                             "train.verbose": "none"})
    pretrain("sentiment", config, ["the film was good", "the plot was dull"] * 20, lambda texts: texts,
             log=lambda *_: None)
    saved = lifecycle.load_config(LM_TASK, tmp_path / "forward" / "config.yaml", saved_run=True)
    assert saved.model.sampled_softmax == 2


def test_the_recipe_refuses_extra_text_holding_evaluation_texts_before_making_any_folder(tmp_path):
    extra = tmp_path / "general.txt"
    extra.write_text("a general sentence about zebras\nThe plot was DULL.\n", encoding="utf-8")
    config = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.extra_text": f"[{extra}]",
                             "model.pretraining.run_dir": str(tmp_path / "lm")})
    with pytest.raises(DataError, match=r"general.txt: 1 line\(s\) .* test split \(e.g. line 2"):
        pretrain("sentiment", config, ["the film was good"], lambda texts: texts, log=lambda *_: None,
                 evaluation_texts={"val": ["a fine film"], "test": ["the plot was dull"]})
    assert not (tmp_path / "lm").exists()
