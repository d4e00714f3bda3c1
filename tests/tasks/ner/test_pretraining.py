"""NER on a pretrained encoder: frozen LM features (TagLM), and the CoNLL-2003 recipe's config on the real
data (CoNLL train + PTB text)."""
import numpy as np
import pytest

from common import lifecycle
from common.io import read_json
from tasks.ner import TASK
from tests.conftest import REPO
from tests.tasks.language_model.helpers import lm_run
from tests.tasks.ner.helpers import tiny_config


def test_the_tagger_reads_frozen_lm_states_beside_its_word_features(tmp_path):
    lm_run(tmp_path / "lm" / "forward")
    lm_run(tmp_path / "lm" / "backward", direction="backward")
    config = tiny_config(tmp_path, f"model.pretrained_encoder={tmp_path / 'lm'}", "model.pretrained_as=features")
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    plain = TASK.build_model(tiny_config(tmp_path), TASK.prepare(tiny_config(tmp_path)))
    width = model.get_layer("word_features").output.shape[-1]
    assert width == plain.get_layer("word_features").output.shape[-1] + 10  # 5 LM units a direction
    assert not model.get_layer("lm_recurrent").trainable_weights
    model.compile(optimizer="adam", **TASK.compile_args(config, prepared))
    before = model.get_layer("lm_recurrent").get_weights()
    tokens, tags = next(iter(prepared.train))
    assert np.isfinite(model.train_on_batch(tokens, tags))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_layer("lm_recurrent").get_weights()))


@pytest.mark.slow  # two small language models on CoNLL sentences and PTB's validation text: about a minute
def test_conll2003_pretrained_config_pretrains_on_conll_and_ptb_text_and_trains(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, REPO / "configs" / "ner_conll2003_pretrained.yaml", [
        "data.max_examples=200", "train.epochs=1", "train.verbose=none", "model.pretraining.epochs=1",
        "model.pretraining.extra_text=[ptb/ptb.valid.txt]", f"model.pretraining.run_dir={tmp_path / 'lm'}",
        "model.char_lm.epochs=1", "model.char_lm.units=16"])
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    corpus = (tmp_path / "lm" / "corpus.txt").read_text(encoding="utf-8").splitlines()
    ptb = (shared_data / "ptb" / "ptb.valid.txt").read_text(encoding="utf-8").splitlines()
    assert len(corpus) == 200 + sum(1 for line in ptb if line.strip())  # the training sentences, then PTB
    summary = read_json(run.state_path)["pretrained_encoder"]
    assert summary["backward"].endswith("backward") and summary["vocabulary"]["shared"] > 0
    assert read_json(run.state_path)["char_lm"]["backward"].endswith("backward")
    assert read_json(run.metrics_path)["test"]["f1"] >= 0.0
