"""The shared recurrent block, shape by shape, with masking and serialization."""
import keras
import numpy as np
import pytest

from common.layers.recurrent import RecurrentBlock


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_output_shapes(cell, bidirectional, return_sequences):
    block = RecurrentBlock(cell=cell, units=4, num_layers=2, bidirectional=bidirectional,
                           layer_norm=True, return_sequences=return_sequences)
    out = block(np.zeros((3, 5, 2), np.float32))
    width = 8 if bidirectional else 4
    assert tuple(out.shape) == ((3, 5, width) if return_sequences else (3, width))


def test_return_state_gives_last_layer_states():
    outputs = RecurrentBlock(cell="lstm", units=4, bidirectional=True, return_state=True)(np.zeros((2, 3, 2)))
    assert [tuple(t.shape) for t in outputs] == [(2, 8)] + [(2, 4)] * 4


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_padding_never_reaches_the_state(cell):
    inputs = keras.Input((None, 2))
    block = RecurrentBlock(cell=cell, units=4, num_layers=2, bidirectional=True)
    model = keras.Model(inputs, block(keras.layers.Masking()(inputs)))
    x = np.random.default_rng(0).normal(size=(2, 3, 2)).astype(np.float32)
    padded = np.concatenate([x, np.zeros((2, 4, 2), np.float32)], axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(padded, verbose=0), atol=1e-5)


def test_model_with_the_block_reloads_from_keras_file(tmp_path):
    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, RecurrentBlock(cell="gru", units=3, num_layers=2, dropout=0.1)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    x = np.ones((1, 4, 2), np.float32)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert reloaded.layers[1].get_config()["num_layers"] == 2


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentBlock(cell="transformer")
