"""The task on the benchmark data (skipped when ../shared/datasets is absent): PTB's protocol counts,
the nanoGPT split of Tiny Shakespeare, and one short training step on a slice of each."""
import pytest

from common import config as cfg
from common import lifecycle
from tasks.language_model import TASK

REPO_CONFIGS = TASK.demo_config_path.parent


def benchmark_config(name, **values):
    return cfg.with_values(lifecycle.load_config(TASK, REPO_CONFIGS / name), values)


def test_ptb_follows_the_published_protocol(shared_data, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    prepared = TASK.prepare(benchmark_config("lm_ptb.yaml"))
    # 10,000 words incl. <eos> (README), plus our padding entry; <eos> counted in every split
    assert len(prepared.state["vocabulary"]) == 10_001
    assert {s: len(ids) for s, ids in prepared.ids.items()} == {"train": 929_589, "val": 73_760, "test": 82_430}


def test_tiny_shakespeare_uses_nanogpts_split(shared_data, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    prepared = TASK.prepare(benchmark_config("lm_tinyshakespeare.yaml"))
    assert len(prepared.ids["train"]) == 1_003_854 and len(prepared.ids["val"]) == 111_540
    assert prepared.test_is_val and len(prepared.state["vocabulary"]) == 65 + 2  # + padding and <unk>


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lm_ptb.yaml", "lm_tinyshakespeare.yaml"])
def test_a_short_run_on_a_slice_trains_evaluates_and_exports(shared_data, monkeypatch, tmp_path, name):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = benchmark_config(name, **{"train.epochs": 1, "data.max_split_tokens": 3000, "train.batch_size": 8,
                                       "model.rnn.units": 32, "model.embedding_dim": 32, "train.verbose": "none",
                                       "model.generation.max_tokens": 5})
    run, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    headline = "perplexity" if config.data.granularity == "word" else "nats_per_char"
    assert doc["test"][headline] > 0 and doc["test"]["tokens"] == 3000
    assert (run.export_dir / "saved_model.pb").exists()
