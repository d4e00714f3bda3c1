"""Metrics over every token with the state carried as in training, and the text sample."""
import math

import keras
import numpy as np
import pytest

from common import config as cfg
from tasks.language_model import data, evaluate
from tasks.language_model.model import build_language_model
from tests.common.terminal import on_a_terminal
from tests.tasks.language_model.helpers import WORDS, config_for, write


@pytest.fixture
def setup(tmp_path):
    keras.utils.set_random_seed(0)
    config = config_for(write(tmp_path, "c.txt", WORDS * 6), **{"train.batch_size": 3, "data.bptt": 4})
    prepared = data.prepare(config)
    return config, prepared, build_language_model(config, len(prepared.state["vocabulary"]))


def test_perplexity_equals_the_hand_computed_value(setup):
    """A model that ignores its input (zero weights but the output bias): NLL = -sum log softmax(bias)[y]."""
    config, prepared, model = setup
    for weight in model.weights:
        weight.assign(np.zeros(weight.shape, "float32"))
    bias = np.random.default_rng(0).normal(size=model.get_layer("logits").bias.shape).astype("float32")
    model.get_layer("logits").bias.assign(bias)
    log_probs = bias - np.log(np.exp(bias).sum())
    ids = prepared.ids["test"]
    nll, count = evaluate.split_nll(model, prepared.test)
    assert count == len(ids)  # every token, <eos> included, the last partial windows too
    assert nll == pytest.approx(-log_probs[ids].sum(), rel=1e-5)
    assert evaluate.token_metrics(nll, count, "word")["perplexity"] == pytest.approx(
        math.exp(-log_probs[ids].mean()), rel=1e-5)


def test_the_window_walk_carries_the_state_like_one_long_pass(setup):
    config, prepared, model = setup
    walked = evaluate.split_nll(model, prepared.test)
    one_window = data.stream_dataset(prepared.ids["test"], 3, 10_000)
    assert evaluate.split_nll(model, one_window) == pytest.approx(walked, rel=1e-4)  # oneDNN kernels differ
    windows = int(prepared.test.cardinality())
    fresh_state_each_window = sum(evaluate.split_nll(model, prepared.test.skip(i).take(1))[0]
                                  for i in range(windows))
    assert windows > 1 and fresh_state_each_window != pytest.approx(walked[0], rel=1e-5)


def test_char_metrics_are_bits_and_nats_per_character():
    metrics = evaluate.token_metrics(2 * math.log(2.0) * 10, 10, "char")
    assert metrics["bits_per_char"] == pytest.approx(2.0) and metrics["nats_per_char"] == pytest.approx(
        2 * math.log(2.0)) and metrics["tokens"] == 10


def test_the_sample_is_seeded_and_starts_with_the_prompt(setup):
    config, prepared, model = setup
    config = cfg.with_values(config, {"model.generation.sample_prompt": "the cat"})
    first = evaluate.sample_text(model, config, prepared, "test")
    assert first.startswith("the cat ⟶ ") and first == evaluate.sample_text(model, config, prepared, "test")


def test_baselines_score_the_same_tokens(setup):
    config, prepared, _ = setup
    scores = evaluate.baselines(config, prepared, "test")
    assert set(scores) == {"unigram", "kneser_ney_3gram"}
    assert all(s["tokens"] == len(prepared.ids["test"]) for s in scores.values())
    assert scores["kneser_ney_3gram"]["perplexity"] < scores["unigram"]["perplexity"]


def test_line_batching_scores_every_token_of_every_line_from_a_fresh_state(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS * 6), **{"data.batching": "line"})
    prepared = data.prepare(config)
    model = build_language_model(config, len(prepared.state["vocabulary"]))
    assert model.get_layer("recurrent").batch_size is None  # no state carried between batches
    nll, count = evaluate.split_nll(model, prepared.test)
    assert count == len(prepared.ids["test"]) and nll > 0


def test_a_long_split_shows_a_bar_of_its_windows_on_a_terminal(setup, monkeypatch):
    config, prepared, model = setup
    terminal = on_a_terminal(monkeypatch)
    evaluate.split_nll(model, prepared.test)
    windows = int(prepared.test.cardinality())
    assert f"evaluating: {100 / windows:3.0f}%|" in terminal.getvalue(), terminal.getvalue()
