"""The shared recurrent block, shape by shape, with masking and serialization."""
import keras
import numpy as np
import pytest

from common.layers import fast_rnn
from common.layers.recurrent import RecurrentBlock
from tests.harness import NO_MASK, run_layer_test

X = np.random.default_rng(0).normal(size=(2, 5, 3)).astype(np.float32)
MASK = np.array([[True, True, True, False, False], [True] * 5])


@pytest.mark.parametrize("init_kwargs, expected_output_shape, expected_mask", [
    ({"cell": "lstm", "units": 4, "return_sequences": True}, (2, 5, 4), MASK),
    ({"cell": "gru", "units": 4, "num_layers": 2, "bidirectional": True, "layer_norm": True, "dropout": 0.1},
     (2, 8), NO_MASK),
    ({"cell": "simple_rnn", "units": 4, "num_layers": 2, "return_sequences": True}, (2, 5, 4), MASK),
    ({"cell": "lstm", "units": 4, "bidirectional": True, "return_state": True},
     [(2, 8)] + [(2, 4)] * 4, NO_MASK),
    ({"cell": "gru", "units": 4, "return_sequences": True, "return_state": True, "implementation": "keras"},
     [(2, 5, 4), (2, 4)], [MASK, None]),
], ids=["lstm-sequences", "gru-bidirectional-stacked", "simple-rnn-stacked", "lstm-bidirectional-state",
        "keras-gru-sequences-and-state"])
def test_recurrent_block_passes_the_layer_harness(init_kwargs, expected_output_shape, expected_mask,
                                                  tmp_path):
    run_layer_test(RecurrentBlock, init_kwargs, X, tmp_path, input_mask=MASK,
                   expected_output_shape=expected_output_shape, expected_mask=expected_mask)


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_output_shapes(cell, bidirectional, return_sequences):
    block = RecurrentBlock(cell=cell, units=4, num_layers=2, bidirectional=bidirectional,
                           layer_norm=True, return_sequences=return_sequences)
    out = block(np.zeros((3, 5, 2), np.float32))
    width = 8 if bidirectional else 4
    assert tuple(out.shape) == ((3, 5, width) if return_sequences else (3, width))


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_padding_never_reaches_the_state(cell):
    inputs = keras.Input((None, 2))
    block = RecurrentBlock(cell=cell, units=4, num_layers=2, bidirectional=True)
    model = keras.Model(inputs, block(keras.layers.Masking()(inputs)))
    x = np.random.default_rng(0).normal(size=(2, 3, 2)).astype(np.float32)
    padded = np.concatenate([x, np.zeros((2, 4, 2), np.float32)], axis=1)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(padded, verbose=0), atol=1e-5)


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentBlock(cell="transformer")



@pytest.mark.parametrize("implementation, rows, layer_class", [
    ("auto", 1792, keras.layers.GRU),  # 1792 x 256 x 3 x 256 = 352M multiply-adds a step: the stock layer
    ("auto", 64, fast_rnn.FastGRU),  # 12.6M: the fast one
    ("auto", None, fast_rnn.FastGRU),  # a batch the model does not know
    ("fast", 1792, fast_rnn.FastGRU),  # asked for by name
])
def test_auto_builds_the_stock_layer_for_a_large_training_batch(implementation, rows, layer_class):
    block = RecurrentBlock(cell="gru", units=256, num_layers=2, implementation=implementation, rows=rows)
    assert [type(rnn) for rnn in block.rnns] == [layer_class, layer_class]
    assert RecurrentBlock.from_config(block.get_config()).rows == rows
