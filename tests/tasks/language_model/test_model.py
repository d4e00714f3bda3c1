"""The language model and its inference graph: tied weights, explicit-state runs, generation."""
import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from tasks.language_model import data
from tasks.language_model.model import LanguageModelGraph, build_language_model
from tests.tasks.language_model.helpers import WORDS, config_for, write


@pytest.fixture
def prepared_config(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS * 6))
    return config, data.prepare(config)


def test_tied_embeddings_share_one_matrix(prepared_config):
    config, prepared = prepared_config
    size = len(prepared.state["vocabulary"])
    tied = build_language_model(cfg.with_values(config, {"model.tie_embeddings": True, "model.embedding_dim": 8}),
                                size)
    untied = build_language_model(config, size)
    assert "logits" not in [layer.name for layer in tied.layers]
    assert untied.count_params() - tied.count_params() == 8 * size  # the output matrix is gone
    x = np.full((2, 3), 3, "int32")
    before = tied(x).numpy()
    tied.get_layer("recurrent").reset_states()
    matrix = tied.get_layer("embedding").embeddings
    matrix.assign(matrix * 2.0)  # the one matrix changes what goes in and what comes out
    assert not np.allclose(tied(x).numpy(), before)


def test_tied_embeddings_project_when_sizes_differ(prepared_config):
    config, prepared = prepared_config
    model = build_language_model(cfg.with_values(config, {"model.tie_embeddings": True, "model.embedding_dim": 5}),
                                 len(prepared.state["vocabulary"]))
    assert model.get_layer("projection").units == 5
    assert model.output_shape[-1] == len(prepared.state["vocabulary"])


@pytest.mark.parametrize("tied", [True, False])
def test_the_output_bias_starts_at_the_training_unigram_distribution(prepared_config, tied):
    config, prepared = prepared_config
    config = cfg.with_values(config, {"model.tie_embeddings": tied})
    size = len(prepared.state["vocabulary"])
    model = build_language_model(config, size, prepared.ids["train"])
    layer = model.get_layer("embedding" if tied else "logits")
    bias = np.asarray(layer.logit_bias if tied else layer.bias)
    counts = np.bincount(prepared.ids["train"], minlength=size).astype(float)
    counts[data.PAD_ID] = 0.0  # padding is never a token
    np.testing.assert_allclose(bias, np.log((counts + 1) / (counts.sum() + size - 1)), rtol=1e-5)
    assert np.argmax(bias) == np.argmax(counts)  # the most frequent training token starts most likely


def test_layers_are_named_for_reuse(prepared_config):
    config, prepared = prepared_config
    names = [layer.name for layer in build_language_model(config, 10).layers]
    assert {"embedding", "recurrent", "logits"} <= set(names)


def test_the_graph_with_explicit_states_matches_the_stateful_model(prepared_config):
    config, prepared = prepared_config
    model = build_language_model(config, len(prepared.state["vocabulary"]))
    graph = LanguageModelGraph(model)
    x = np.random.default_rng(0).integers(2, 8, size=(2, 7)).astype("int32")
    expected = np.concatenate([model(x[:, :3]).numpy(), model(x[:, 3:]).numpy()], axis=1)
    logits, states = graph.run(x[:, :3], graph.recurrent.zero_states(2))
    rest, _ = graph.run(x[:, 3:], states)
    np.testing.assert_allclose(np.concatenate([logits, rest], axis=1), expected, atol=1e-5)


def generate(graph, texts_ids, **kwargs):
    ids = tf.constant(texts_ids, tf.int32)
    lengths = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)
    kwargs = {"max_tokens": tf.constant([6] * len(texts_ids)), **kwargs}
    return graph.generate(ids, lengths, **kwargs).tokens.numpy()


def test_top_k_one_equals_greedy_and_seeds_reproduce(prepared_config):
    config, prepared = prepared_config
    graph = LanguageModelGraph(build_language_model(config, len(prepared.state["vocabulary"])))
    prompts = [[2, 3, 4], [2, 5, 0]]
    greedy = generate(graph, prompts, temperature=tf.constant([0.0, 0.0]))
    np.testing.assert_array_equal(generate(graph, prompts, top_k=tf.constant([1, 1]), seed=tf.constant([3, 4])),
                                  greedy)
    sampled = generate(graph, prompts, seed=tf.constant([7, 8]))
    np.testing.assert_array_equal(generate(graph, prompts, seed=tf.constant([7, 8])), sampled)
    assert (greedy != data.PAD_ID).all() and (sampled != data.PAD_ID).all()  # padding is never generated


def test_beam_search_runs_through_the_shared_search(prepared_config):
    config, prepared = prepared_config
    graph = LanguageModelGraph(build_language_model(config, len(prepared.state["vocabulary"])))
    one = generate(graph, [[2, 3, 4]], beam_width=1, temperature=tf.constant([0.0]))
    beam = generate(graph, [[2, 3, 4]], beam_width=3)
    assert beam.shape == (1, 6) and one.shape == (1, 6)
