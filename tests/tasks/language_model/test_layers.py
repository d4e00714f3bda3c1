"""StatefulRecurrent: the layer harness, state carried across calls, weights that fit a RecurrentBlock."""
import keras
import numpy as np
import pytest

from common.layers.recurrent import RecurrentBlock
from tasks.language_model.layers import ResetStates, StatefulRecurrent
from tests.harness import run_layer_test

X = np.random.default_rng(0).normal(size=(3, 10, 5)).astype("float32")


@pytest.mark.parametrize("init_kwargs", [
    {"cell": "lstm", "units": 4, "num_layers": 2, "layer_norm": True},
    {"cell": "gru", "units": 4, "batch_size": 3},
    {"cell": "simple_rnn", "units": 4, "implementation": "keras"},
])
def test_stateful_recurrent_passes_the_layer_harness(init_kwargs, tmp_path):
    if init_kwargs.get("batch_size"):  # the save/load model would carry state between its two calls
        StatefulRecurrent(**init_kwargs)(X)
        init_kwargs = {**init_kwargs, "batch_size": None}
    run_layer_test(StatefulRecurrent, init_kwargs, X, tmp_path, expected_output_shape=(3, 10, 4))


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_state_carried_across_windows_equals_one_pass(cell):
    layer = StatefulRecurrent(cell, 6, num_layers=2, batch_size=3)
    whole = keras.ops.convert_to_numpy(layer(X))
    layer.reset_states()
    pieces = [keras.ops.convert_to_numpy(layer(X[:, a:b])) for a, b in ((0, 4), (4, 7), (7, 10))]
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, atol=1e-5)


def test_reset_states_starts_again_from_zeros():
    layer = StatefulRecurrent("lstm", 6, batch_size=3)
    first = keras.ops.convert_to_numpy(layer(X))
    carried = keras.ops.convert_to_numpy(layer(X))
    layer.reset_states()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(X)), first, atol=1e-6)
    assert not np.allclose(carried, first)


def test_the_reset_callback_zeroes_every_stateful_layer():
    tokens = keras.Input((None, 5), batch_size=3)
    model = keras.Model(tokens, StatefulRecurrent("gru", 4, batch_size=3, name="recurrent")(tokens))
    first = keras.ops.convert_to_numpy(model(X))
    model(X)
    callback = ResetStates()
    callback.set_model(model)
    callback.on_epoch_begin(0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(X)), first, atol=1e-6)


def test_without_batch_size_every_call_starts_from_zeros():
    layer = StatefulRecurrent("lstm", 6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(X)), keras.ops.convert_to_numpy(layer(X)))


def test_weights_load_into_a_recurrent_block_of_the_same_config():
    layer = StatefulRecurrent("lstm", 6, num_layers=2, layer_norm=True)
    block = RecurrentBlock("lstm", 6, num_layers=2, layer_norm=True, return_sequences=True)
    expected = keras.ops.convert_to_numpy(layer(X))
    block(X)
    block.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(block(X)), expected, atol=1e-5)
    assert [w.path.split("/", 1)[1] for w in layer.weights] == [w.path.split("/", 1)[1] for w in block.weights]
