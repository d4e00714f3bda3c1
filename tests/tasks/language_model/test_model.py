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


def fixed_distribution_graph(config, prepared, eos_log_prob: float) -> LanguageModelGraph:
    """The graph of a model whose next-token distribution is the same after any context: zero output
    kernel, and a bias giving <eos> probability exp(``eos_log_prob``) and every other word an equal share."""
    size = len(prepared.state["vocabulary"])
    model = build_language_model(config, size)
    logits = model.get_layer("logits")
    logits.kernel.assign(tf.zeros_like(logits.kernel))
    rest = np.log((1.0 - np.exp(eos_log_prob)) / (size - 2))
    bias = np.full(size, rest, "float32")
    bias[data.BOUNDARY_ID] = eos_log_prob
    logits.bias.assign(bias)
    return LanguageModelGraph(model)


def counting_steps(graph, monkeypatch) -> list:
    """Record every `run` of ``graph`` (one for the prompt, then one per step of the generation loop: in eager
    mode the loop is a Python loop)."""
    calls, run = [], graph.run
    monkeypatch.setattr(graph, "run", lambda ids, states: calls.append(ids.shape) or run(ids, states))
    return calls


def test_a_word_model_whose_most_probable_token_is_eos_stops_at_once(prepared_config, monkeypatch):
    config, prepared = prepared_config
    graph = fixed_distribution_graph(config, prepared, np.log(0.9))
    calls = counting_steps(graph, monkeypatch)
    prompts = tf.constant([[2, 3, 4], [2, 5, 0]], tf.int32)
    decoded = graph.generate(prompts, tf.constant([3, 2]), tf.constant([6, 6]),
                             temperature=tf.constant([0.0, 0.0]), end_id=data.BOUNDARY_ID)
    assert decoded.tokens.numpy().shape == (2, 0) and decoded.lengths.numpy().tolist() == [0, 0]
    assert len(calls) == 2  # the prompt, then the one step that produced <eos> (not 6)
    calls.clear()
    unstopped = graph.generate(prompts, tf.constant([3, 2]), tf.constant([6, 6]),
                               temperature=tf.constant([0.0, 0.0]))
    assert (unstopped.tokens.numpy() == data.BOUNDARY_ID).all() and len(calls) == 7


def test_each_row_of_a_batch_stops_at_its_own_first_eos(prepared_config, monkeypatch):
    """Sampled rows end at different steps: each keeps exactly its tokens before its first <eos> (the same
    draws as a search without an end token), and the loop ends with the longest row."""
    config, prepared = prepared_config
    graph = fixed_distribution_graph(config, prepared, np.log(0.25))
    calls = counting_steps(graph, monkeypatch)
    prompts, lengths = tf.constant([[2, 3]] * 4, tf.int32), tf.constant([2] * 4)
    settings = {"max_tokens": tf.constant([12] * 4), "seed": tf.constant([1, 2, 3, 4])}
    free = graph.generate(prompts, lengths, **settings).tokens.numpy()
    assert len(calls) == 13
    calls.clear()
    stopped = graph.generate(prompts, lengths, **settings, end_id=data.BOUNDARY_ID)
    ends = [row.tolist().index(data.BOUNDARY_ID) if data.BOUNDARY_ID in row else 12 for row in free]
    assert len(set(ends)) > 1 and max(ends) < 11  # rows end at different steps, all before the cap
    assert stopped.lengths.numpy().tolist() == ends
    for row, end, out in zip(free, ends, stopped.tokens.numpy()):
        assert out[:end].tolist() == row[:end].tolist() and (out[end:] == data.PAD_ID).all()
    assert len(calls) == 1 + max(ends) + 1


def test_beam_search_stops_at_eos_too(prepared_config, monkeypatch):
    config, prepared = prepared_config
    graph = fixed_distribution_graph(config, prepared, np.log(0.9))
    calls = counting_steps(graph, monkeypatch)
    decoded = graph.generate(tf.constant([[2, 3]], tf.int32), tf.constant([2]), tf.constant([8]),
                             beam_width=3, end_id=data.BOUNDARY_ID)
    # step 1 ends the best beam; step 2 ends the other two (their best word is <eos>): 2 steps, not 8
    assert decoded.lengths.numpy().tolist() == [0] and len(calls) == 1 + 2
