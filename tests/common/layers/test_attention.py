"""Attention layers: shapes, masking of source padding, one-step use, serialization."""
import numpy as np
import pytest

from common.layers.attention import BahdanauAttention, LuongAttention, make_attention
from tests.harness import NO_MASK, run_layer_test

KINDS = ["bahdanau", "luong_dot", "luong_general"]
rng = np.random.default_rng(0)
QUERY = rng.normal(size=(2, 3, 8)).astype("float32")
VALUES = rng.normal(size=(2, 5, 8)).astype("float32")
MASK = np.array([[True, True, True, False, False], [True] * 5])


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_weights_sum_to_one(kind):
    context, weights = make_attention(kind, units=4)(QUERY, VALUES, source_mask=MASK)
    assert context.shape == (2, 3, 8)
    assert weights.shape == (2, 3, 5)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_padded_source_positions_get_exactly_zero_weight(kind):
    _, weights = make_attention(kind, units=4)(QUERY, VALUES, source_mask=MASK)
    assert np.all(np.asarray(weights)[0, :, 3:] == 0.0)
    assert np.all(np.asarray(weights)[1] > 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_content_does_not_change_the_context(kind):
    layer = make_attention(kind, units=4)
    noisy = VALUES.copy()
    noisy[0, 3:] = 1e3
    clean, _ = layer(QUERY, VALUES, source_mask=MASK)
    dirty, _ = layer(QUERY, noisy, source_mask=MASK)
    np.testing.assert_allclose(np.asarray(clean)[0], np.asarray(dirty)[0], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_one_decoding_step_with_precomputed_keys_matches_the_full_call(kind):
    layer = make_attention(kind, units=4)
    full, full_weights = layer(QUERY, VALUES, source_mask=MASK)
    step, step_weights = layer(QUERY[:, 1], VALUES, keys=layer.project_keys(VALUES), source_mask=MASK)
    assert step.shape == (2, 8) and step_weights.shape == (2, 5)
    np.testing.assert_allclose(np.asarray(step), np.asarray(full)[:, 1], atol=1e-5)


def test_luong_dot_needs_equal_widths():
    with pytest.raises(ValueError, match="same width"):
        LuongAttention(score="dot")(QUERY, VALUES[..., :4])


def test_unknown_attention_type_names_the_choices():
    with pytest.raises(ValueError, match="bahdanau, luong_dot, luong_general"):
        make_attention("cosine")


@pytest.mark.parametrize("init_kwargs, query, expected_output_shape", [
    ({"units": 4}, QUERY, [(2, 3, 8), (2, 3, 5)]),
    ({"units": 4, "dropout": 0.1}, QUERY[:, 0], [(2, 8), (2, 5)]),  # one decoding step
], ids=["sequence", "one-step"])
def test_bahdanau_attention_passes_the_layer_harness(init_kwargs, query, expected_output_shape, tmp_path):
    run_layer_test(BahdanauAttention, init_kwargs, query, tmp_path,
                   call_kwargs={"values": VALUES, "source_mask": MASK},
                   expected_output_shape=expected_output_shape, expected_mask=NO_MASK)


@pytest.mark.parametrize("init_kwargs, query, expected_output_shape", [
    ({"score": "dot"}, QUERY, [(2, 3, 8), (2, 3, 5)]),
    ({"score": "general", "dropout": 0.1}, QUERY[:, 0, :6], [(2, 8), (2, 5)]),  # one step, narrower query
], ids=["dot-sequence", "general-one-step"])
def test_luong_attention_passes_the_layer_harness(init_kwargs, query, expected_output_shape, tmp_path):
    run_layer_test(LuongAttention, init_kwargs, query, tmp_path,
                   call_kwargs={"values": VALUES, "source_mask": MASK},
                   expected_output_shape=expected_output_shape, expected_mask=NO_MASK)
