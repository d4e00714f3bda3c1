"""Blend: a fixed weighted sum of paths' logits; fit_blend finds the weights with the lowest log-loss."""
import numpy as np
import pytest
from scipy.special import log_softmax

from common.layers.blend import Blend, fit_blend
from tests.harness import run_layer_test

A = np.array([[1.0, -1.0], [0.5, 2.0]], dtype="float32")
B = np.array([[3.0, 1.0], [-2.0, 0.0]], dtype="float32")


def test_blend_passes_the_layer_checks(tmp_path):
    outputs = run_layer_test(Blend, {"initial_weights": [1.0, 0.0]}, [A, B], tmp_path, expected_output_shape=(2, 2))
    np.testing.assert_allclose(np.asarray(outputs), A)  # [1, 0]: the first path alone


def test_blend_is_the_weighted_sum_of_the_logits():
    layer = Blend([1.0, 0.0])
    layer([A, B])
    layer.blend_weights.assign([0.5, 2.0])
    np.testing.assert_allclose(np.asarray(layer([A, B])), 0.5 * A + 2.0 * B, atol=1e-6)


def test_blend_weights_do_not_train():
    layer = Blend([1.0, 0.0])
    layer([A, B])
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1


def log_loss(weights, paths, labels):
    z = sum(w * p for w, p in zip(weights, paths))
    return -log_softmax(z, axis=1)[np.arange(len(labels)), labels].mean()


def test_fit_blend_trusts_the_informative_path_and_drops_the_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    informative = np.stack([-(labels * 2.0 - 1), labels * 2.0 - 1], axis=1) + rng.normal(0, 1.5, (2000, 2))
    noise = rng.normal(0, 3.0, (2000, 2))
    weights = fit_blend([noise, informative], labels)
    assert weights[0] == pytest.approx(0.0, abs=0.05) and weights[1] > 0.3
    for other in ([1.0, 1.0], [0.0, 1.0], [0.0, 0.5], [0.0, 2.0]):  # the optimum beats its neighbours
        assert log_loss(weights, [noise, informative], labels) <= log_loss(other, [noise, informative], labels)


def test_fit_blend_uses_both_paths_when_each_knows_something():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 4000)
    sign = labels * 2.0 - 1
    paths = [np.stack([-sign, sign], 1) + rng.normal(0, 2.0, (4000, 2)) for _ in range(2)]  # independent errors
    weights = fit_blend(paths, labels)
    assert min(weights) > 0.2 and weights[0] == pytest.approx(weights[1], rel=0.3)
