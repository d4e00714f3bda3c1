"""NER on a pretrained encoder: the CoNLL-2003 recipe's config on the real data (CoNLL train + PTB text)."""
import pytest

from common import lifecycle
from common.io import read_json
from tasks.ner import TASK
from tests.conftest import REPO


@pytest.mark.slow  # two small language models on CoNLL sentences and PTB's validation text: about a minute
def test_conll2003_pretrained_config_pretrains_on_conll_and_ptb_text_and_trains(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, REPO / "configs" / "ner_conll2003_pretrained.yaml", [
        "data.max_examples=200", "train.epochs=1", "train.verbose=none", "model.pretraining.epochs=1",
        "model.pretraining.extra_text=[ptb/ptb.valid.txt]", f"model.pretraining.run_dir={tmp_path / 'lm'}"])
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    corpus = (tmp_path / "lm" / "corpus.txt").read_text(encoding="utf-8").splitlines()
    ptb = (shared_data / "ptb" / "ptb.valid.txt").read_text(encoding="utf-8").splitlines()
    assert len(corpus) == 200 + sum(1 for line in ptb if line.strip())  # the training sentences, then PTB
    summary = read_json(run.state_path)["pretrained_encoder"]
    assert summary["backward"].endswith("backward") and summary["vocabulary"]["shared"] > 0
    assert read_json(run.metrics_path)["test"]["f1"] >= 0.0
