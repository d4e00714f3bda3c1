"""NaiveBayesLinear: logits x @ (ratios * kernel) + bias, from sparse or dense indicators, zero until set."""
import numpy as np
import tensorflow as tf

from common.layers.naive_bayes_linear import NaiveBayesLinear
from tests.harness import run_layer_test

X = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], dtype="float32")
RATIOS = np.array([[0.5, -0.5], [-1.0, 1.0], [2.0, -2.0], [0.0, 0.0]], dtype="float32")
KERNEL = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.5], [9.0, 9.0]], dtype="float32")
BIAS = np.array([0.25, -0.25], dtype="float32")


def built():
    layer = NaiveBayesLinear(2)
    layer.build((None, 4))
    layer.ratios.assign(RATIOS)
    layer.kernel.assign(KERNEL)
    layer.bias.assign(BIAS)
    return layer


def test_naive_bayes_linear_passes_the_layer_checks(tmp_path):
    outputs = run_layer_test(NaiveBayesLinear, {"units": 2}, X, tmp_path, expected_output_shape=(2, 2))
    np.testing.assert_array_equal(np.asarray(outputs), np.zeros((2, 2)))  # kernel and bias start at zero


def test_logits_are_the_indicators_times_ratio_scaled_weights_plus_bias():
    # row 0: features 0 and 2 -> [0.5*1 + 2*0.5, -0.5*2 + -2*0.5] + bias = [1.75, -2.25]
    # row 1: features 1, 2, 3 -> [-1*3 + 2*0.5 + 0, 1*4 - 2*0.5 + 0] + bias = [-1.75, 2.75]
    np.testing.assert_allclose(np.asarray(built()(X)), [[1.75, -2.25], [-1.75, 2.75]], atol=1e-6)


def test_sparse_indicators_give_the_dense_result():
    layer = built()
    np.testing.assert_allclose(np.asarray(layer(tf.sparse.from_dense(X))), np.asarray(layer(X)), atol=1e-6)


def test_the_ratios_never_train():
    layer = built()
    assert {w.name for w in layer.trainable_weights} == {"kernel", "bias"}
    assert [w.name for w in layer.non_trainable_weights] == ["ratios"]
