"""Pooling layers: padding never reaches the pooled vector, and empty rows stay finite."""
import numpy as np
import pytest
from keras import ops

from common.layers.pooling import AttentionPooling, SequencePooling, pooling_layer
from tests.harness import NO_MASK, run_layer_test

# batch of 2, 4 steps, 2 features; row 0 has 2 valid steps, row 1 none (an empty text)
X = np.array([[[1.0, -5.0], [3.0, -1.0], [100.0, 100.0], [100.0, 100.0]],
              [[7.0, 7.0], [7.0, 7.0], [7.0, 7.0], [7.0, 7.0]]], dtype="float32")
MASK = np.array([[True, True, False, False], [False, False, False, False]])


def pool(mode, x=X, mask=MASK):
    return ops.convert_to_numpy(SequencePooling(mode)(x, mask=mask))


def test_mean_averages_valid_steps_only():
    np.testing.assert_allclose(pool("mean")[0], [2.0, -3.0])


def test_max_ignores_padding_even_when_padding_is_larger():
    np.testing.assert_allclose(pool("max")[0], [3.0, -1.0])


def test_max_mean_puts_max_and_mean_side_by_side():
    np.testing.assert_allclose(pool("max_mean")[0], [3.0, -1.0, 2.0, -3.0])


def test_last_takes_the_last_valid_step():
    np.testing.assert_allclose(pool("last")[0], [3.0, -1.0])


@pytest.mark.parametrize("mode", ["last", "max", "mean", "max_mean"])
def test_a_row_without_valid_steps_pools_to_zeros(mode):
    assert not pool(mode)[1].any()


def test_without_a_mask_every_step_counts():
    np.testing.assert_allclose(pool("mean", mask=None)[0], [51.0, 48.5])


def test_attention_weights_sum_to_one_over_valid_steps_and_are_zero_on_padding():
    layer = AttentionPooling(8, return_weights=True)
    pooled, weights = layer(X, mask=MASK)
    weights = ops.convert_to_numpy(weights)
    assert weights[0, :2].sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(weights[0, 2:] == 0.0)
    assert np.all(np.isfinite(ops.convert_to_numpy(pooled)))
    np.testing.assert_allclose(ops.convert_to_numpy(pooled)[1], [0.0, 0.0])  # empty row


def test_attention_pooled_vector_is_a_convex_combination_of_valid_steps():
    pooled = ops.convert_to_numpy(AttentionPooling(4)(X, mask=MASK))[0]
    assert 1.0 <= pooled[0] <= 3.0 and -5.0 <= pooled[1] <= -1.0


def test_unknown_mode_is_rejected_with_the_allowed_ones():
    with pytest.raises(ValueError, match="last, max, mean, max_mean, attention"):
        pooling_layer("median")


@pytest.mark.parametrize("mode, width", [("last", 2), ("max", 2), ("mean", 2), ("max_mean", 4)])
def test_sequence_pooling_passes_the_layer_harness(mode, width, tmp_path):
    run_layer_test(SequencePooling, {"mode": mode}, X, tmp_path, input_mask=MASK,
                   expected_output_shape=(2, width), expected_mask=NO_MASK)


@pytest.mark.parametrize("init_kwargs, expected_output_shape", [
    ({"units": 4}, (2, 2)),
    ({"units": 16, "return_weights": True}, [(2, 2), (2, 4)]),
], ids=["pooled", "with-weights"])
def test_attention_pooling_passes_the_layer_harness(init_kwargs, expected_output_shape, tmp_path):
    run_layer_test(AttentionPooling, init_kwargs, X, tmp_path, input_mask=MASK,
                   expected_output_shape=expected_output_shape, expected_mask=NO_MASK)
