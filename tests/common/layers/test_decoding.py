"""Greedy and beam search on tiny hand-built "models" whose best outputs are known."""
import numpy as np
import pytest
import tensorflow as tf

from common.layers.decoding import (
    MIN_ROWS_LEFT_OUT,
    NEG_INF,
    beam_search,
    filter_logits,
    greedy_search,
    length_penalty,
    sample_search,
)

PAD, START, END, A, B = range(5)


def markov_step(table):
    """A decoder whose next-token distribution depends only on the previous token.

    ``table[prev] = probabilities over the 5 tokens``; the state counts steps (unused by
    the search, but it must be carried and reordered like a real RNN state).
    """
    log_table = tf.math.log(tf.constant(table, tf.float32) + 1e-12)

    def step(tokens, state, constants):
        return tf.gather(log_table, tokens), state + 1

    return step


def start_state(batch):
    return tf.zeros([batch, 1], tf.float32)


# From START: A is likelier (0.6) than B (0.4); but A continues with nothing above 0.35,
# while B ends at once with 0.9, so "B" (0.36) beats every sequence starting with A (<= 0.21).
GARDEN_PATH = [
    [0, 0, 1.0, 0, 0],        # PAD  -> END
    [0, 0, 0.0, 0.6, 0.4],    # START
    [0, 0, 1.0, 0, 0],        # END  -> END
    [0, 0, 0.3, 0.35, 0.35],  # A
    [0, 0, 0.9, 0.05, 0.05],  # B
]


def test_greedy_follows_the_locally_best_token():
    out = greedy_search(markov_step(GARDEN_PATH), start_state(1), start_id=START, end_id=END,
                        max_length=3)
    assert out.tokens.numpy().tolist() == [[A, A, A]]
    assert out.lengths.numpy().tolist() == [3]  # hit max_length without an end token


def test_beam_search_finds_the_known_best_sequence():
    out = beam_search(markov_step(GARDEN_PATH), start_state(1), start_id=START, end_id=END,
                      max_length=5, beam_width=2)
    assert out.tokens.numpy().tolist() == [[B]]
    assert out.lengths.numpy().tolist() == [1]
    np.testing.assert_allclose(out.scores.numpy(), [np.log(0.4 * 0.9)], rtol=1e-5)


def test_beam_width_one_equals_greedy():
    rng = np.random.default_rng(0)
    table = rng.dirichlet(np.ones(5), size=5)
    step = markov_step(table)
    greedy = greedy_search(step, start_state(3), start_id=START, end_id=END, max_length=6)
    beam = beam_search(step, start_state(3), start_id=START, end_id=END, max_length=6, beam_width=1,
                       alpha=0.6)
    np.testing.assert_array_equal(beam.tokens.numpy(), greedy.tokens.numpy())
    np.testing.assert_array_equal(beam.lengths.numpy(), greedy.lengths.numpy())
    np.testing.assert_allclose(beam.scores.numpy(), greedy.scores.numpy(), rtol=1e-5)


def test_length_penalty_favours_longer_outputs():
    # START -> END at once (0.5), or A (0.5) then END (1.0): equal probability 0.5, lengths 1 vs 2.
    table = [[0, 0, 1, 0, 0], [0, 0, 0.5, 0.5, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0]]
    step = markov_step(table)
    kwargs = dict(start_id=START, end_id=END, max_length=4, beam_width=2)
    short = beam_search(step, start_state(1), alpha=0.0, **kwargs)
    long = beam_search(step, start_state(1), alpha=1.0, **kwargs)
    assert short.lengths.numpy().tolist() == [0]  # tie broken towards the first-found hypothesis
    assert long.tokens.numpy().tolist() == [[A]]
    assert length_penalty(tf.constant([1]), 0.0).numpy().tolist() == [1.0]


def test_batches_decode_independently_and_pad_after_the_end():
    step = markov_step(GARDEN_PATH)
    out = beam_search(step, start_state(2), start_id=START, end_id=END, max_length=5, beam_width=2)
    assert out.tokens.numpy().tolist() == [[B], [B]]
    table = [[0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0]]
    out = greedy_search(markov_step(table), start_state(2), start_id=START, end_id=END, max_length=9)
    assert out.tokens.numpy().tolist() == [[A, B], [A, B]]  # START -> A -> B -> END


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_runs_inside_tf_function_with_unknown_batch(search):
    step = markov_step(GARDEN_PATH)

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    def decode(state):
        return search(step, state, start_id=START, end_id=END, max_length=4).tokens

    assert decode(start_state(2)).shape[0] == 2
    assert decode(start_state(0)).shape[0] == 0


def test_constants_reach_every_step_for_every_live_beam():
    seen = []

    def step(tokens, state, constants):
        seen.append((tokens.shape[0], constants["offset"].shape[0], state.shape[0]))
        logits = tf.one_hot(tf.fill(tf.shape(tokens), END), 5) * 10.0 + constants["offset"]
        return logits, state

    beam_search(step, start_state(2), {"offset": tf.zeros([2, 5])}, start_id=START, end_id=END,
                max_length=2, beam_width=3)
    assert seen[0] == (6, 6, 6)  # 2 sentences x 3 beams
    assert all(len(set(rows)) == 1 for rows in seen)  # tokens, constants and state rows agree


def stepped_rows(search, sentences):
    """Decode ``sentences`` rows of which all but the last end at once while the last says A three
    times; -> (rows each step saw, the last sentence's tokens, its length)."""
    rows = []
    ends = tf.tile(tf.constant([[0, 0, 10.0, 0, 0]]), [sentences - 1, 1])
    table = tf.concat([ends, tf.constant([[0, 0, 0, 10.0, 0]])], axis=0)

    def step(tokens, state, constants):
        rows.append(tokens.shape[0])
        logits = tf.where((state >= 3.0) | (tokens[:, None] == END), tf.one_hot(END, 5) * 10.0, constants)
        return logits, state + 1

    out = search(step, start_state(sentences), table, start_id=START, end_id=END, max_length=6)
    return rows, out.tokens.numpy()[-1].tolist(), int(out.lengths[-1])


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_finished_rows_are_left_out_of_the_step(search):
    rows, tokens, length = stepped_rows(search, MIN_ROWS_LEFT_OUT + 1)
    width = 1 if search is greedy_search else 4
    assert rows[0] == (MIN_ROWS_LEFT_OUT + 1) * width and max(rows[1:]) < rows[0]
    assert (tokens, length) == ([A, A, A], 3)  # what the sentence decodes to alone


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_a_few_finished_rows_are_stepped_anyway(search):
    rows, tokens, length = stepped_rows(search, 2)
    assert len(set(rows)) == 1
    assert (tokens, length) == ([A, A, A], 3)


def test_bad_beam_width_is_rejected():
    with pytest.raises(ValueError, match="beam_width must be >= 1"):
        beam_search(markov_step(GARDEN_PATH), start_state(1), start_id=START, end_id=END,
                    max_length=2, beam_width=0)


# ---- sampling ------------------------------------------------------------------------------------------
def random_step(vocab=7, seed=3):
    """A decoder whose logits depend on the previous token through a fixed random table (never PAD)."""
    table = np.random.default_rng(seed).normal(size=(vocab, vocab)) * 2.0
    table[:, PAD] = -1e9
    table = tf.constant(table, tf.float32)

    def step(tokens, state, constants):
        return tf.gather(table, tokens), state + 1

    return step


def test_filter_logits_keeps_the_top_k_per_row():
    logits = tf.constant([[1.0, 3.0, 2.0, 0.0], [4.0, 3.0, 2.0, 1.0]])
    out = filter_logits(logits, 1.0, tf.constant([2, 1]), 1.0).numpy()
    assert (out > NEG_INF / 2).tolist() == [[False, True, True, False], [True, False, False, False]]


def test_filter_logits_keeps_the_smallest_nucleus_reaching_top_p():
    probs = np.array([[0.5, 0.3, 0.15, 0.05]])
    out = filter_logits(tf.math.log(tf.constant(probs, tf.float32)), 1.0, 0, 0.75).numpy()
    assert (out > NEG_INF / 2).tolist() == [[True, True, False, False]]  # 0.5 < 0.75 <= 0.5 + 0.3
    everything = filter_logits(tf.math.log(tf.constant(probs, tf.float32)), 1.0, 0, 1.0).numpy()
    assert (everything > NEG_INF / 2).all()


def test_filter_logits_divides_by_the_temperature():
    out = filter_logits(tf.constant([[2.0, 4.0]]), 2.0, 0, 1.0).numpy()
    np.testing.assert_allclose(out, [[1.0, 2.0]])


def sample(step, batch=3, **kwargs):
    kwargs = {"start_id": START, "end_id": -1, "max_length": 6, **kwargs}
    return sample_search(step, start_state(batch), **kwargs)


def test_sampling_with_top_k_one_equals_greedy():
    step = random_step()
    greedy = greedy_search(step, start_state(3), start_id=START, end_id=-1, max_length=6)
    for decoded in (sample(step, top_k=1, seed=tf.constant([1, 2, 3])), sample(step, temperature=0.0)):
        np.testing.assert_array_equal(decoded.tokens.numpy(), greedy.tokens.numpy())
        np.testing.assert_allclose(decoded.scores.numpy(), greedy.scores.numpy(), rtol=1e-5)


def test_seeded_sampling_is_reproducible_and_each_row_independent_of_the_batch():
    step = random_step()
    first = sample(step, seed=tf.constant([5, 6, 7])).tokens.numpy()
    again = sample(step, seed=tf.constant([5, 6, 7])).tokens.numpy()
    alone = sample(step, batch=1, seed=tf.constant([6])).tokens.numpy()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(alone[0], first[1])
    other = [sample(step, seed=s).tokens.numpy() for s in range(8, 12)]
    assert any(not np.array_equal(o, first) for o in other)


def test_sampling_follows_the_distribution():
    table = np.full((5, 5), 1e-9)
    table[:, A], table[:, B] = 0.7, 0.3
    step = markov_step(table)
    rows = sample_search(step, start_state(400), start_id=START, end_id=-1, max_length=5, seed=tf.range(400))
    draws = rows.tokens.numpy().ravel()  # 2,000 draws, each row seeded differently
    assert abs(np.mean(draws == A) - 0.7) < 0.05 and set(np.unique(draws)) <= {A, B}


def test_sampling_stops_each_row_at_its_own_max_length():
    decoded = sample(random_step(), max_length=tf.constant([2, 5, 0]))
    assert decoded.lengths.numpy().tolist() == [2, 5, 0]
