"""The fast CPU LSTM/GRU compute exactly what the stock Keras layers compute.

For equal weights, outputs, final states and gradients (inputs and every weight) must
match ``keras.layers.LSTM``/``GRU`` within 1e-5, with and without masks, forwards,
backwards and bidirectional; the layers serialize like any Keras layer.
"""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.layers import fast_rnn
from common.layers.fast_rnn import FastGRU, FastLSTM
from tests.harness import NO_MASK, run_layer_test

FAST = {"lstm": FastLSTM, "gru": FastGRU}
STOCK = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
TOL = 1e-5


def _inputs(with_mask):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    if not with_mask:
        return x, None
    # right padding, left padding and a hole: every masking branch is exercised
    mask = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 1, 0]], bool)
    return x, mask


def _pair(cell, bidirectional, **kwargs):
    """The same layer, fast and stock, with identical (non-trivial) weights."""
    layers = []
    for cls in (FAST[cell], STOCK[cell]):
        layer = cls(5, **kwargs)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer)
        layer.build((None, None, 4))
        layers.append(layer)
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in layers[1].get_weights()]
    for layer in layers:
        layer.set_weights(weights)
    return layers


def _run(layer, x, mask, compiled=False, training=True):
    """Outputs and the gradients of a weighted sum of every output w.r.t. input and weights.

    ``training=True`` (as in ``fit``) takes the hand-written gradient; inference takes
    TensorFlow's own differentiation of the forward loop."""
    fn = tf.function(_outputs_and_grads) if compiled else _outputs_and_grads
    outputs, grads = fn(layer, x, mask, training)
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


def _outputs_and_grads(layer, x, mask, training):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=None if mask is None else tf.convert_to_tensor(mask), training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        # distinct weights per element, so every output position's gradient is checked
        loss = sum(tf.reduce_sum(o * tf.reshape(tf.cos(tf.range(tf.size(o), dtype=tf.float32) * 0.37),
                                                tf.shape(o)))
                   for o in outputs)
    return list(outputs), tape.gradient(loss, [x] + layer.trainable_weights)


def _assert_same(fast, stock, x, mask, training=True):
    fast_out, fast_grads = _run(fast, x, mask, training=training)
    stock_out, stock_grads = _run(stock, x, mask)
    assert len(fast_out) == len(stock_out)
    for a, b in zip(fast_out + fast_grads, stock_out + stock_grads):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_outputs_states_and_gradients_match_the_stock_layer(cell, with_mask, return_sequences):
    fast, stock = _pair(cell, False, return_sequences=return_sequences, return_state=True)
    _assert_same(fast, stock, *_inputs(with_mask))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_backwards_layer_matches_the_stock_layer(cell, with_mask):
    fast, stock = _pair(cell, False, return_sequences=True, go_backwards=True)
    _assert_same(fast, stock, *_inputs(with_mask))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_the_stock_layer(cell, with_mask, return_sequences):
    fast, stock = _pair(cell, True, return_sequences=return_sequences)
    _assert_same(fast, stock, *_inputs(with_mask))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_inference_mode_matches_the_stock_layer(cell):
    fast, stock = _pair(cell, True, return_sequences=True)
    _assert_same(fast, stock, *_inputs(True), training=False)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_compiled_graph_matches_the_stock_layer(cell):
    """Training runs in a tf.function (graph mode): the hand-written gradient holds there too."""
    fast, stock = _pair(cell, True, return_sequences=False)
    x, mask = _inputs(True)
    fast_out, fast_grads = _run(fast, x, mask, compiled=True)
    stock_out, stock_grads = _run(stock, x, mask)
    for a, b in zip(fast_out + fast_grads, stock_out + stock_grads):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=TOL)


def test_weights_have_the_stock_layout():
    fast, stock = _pair("gru", False)
    assert [w.shape for w in fast.weights] == [w.shape for w in stock.weights] == [(4, 15), (5, 15), (2, 15)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_model_reloads_from_keras_file(cell, tmp_path):
    inputs = keras.Input((None, 4))
    masked = keras.layers.Masking()(inputs)
    model = keras.Model(inputs, keras.layers.Bidirectional(FAST[cell](3))(masked))
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    x, _ = _inputs(False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_unsupported_configurations_fall_back_to_the_stock_loop():
    """Recurrent dropout is not on the fast path: the layer falls back to the stock loop and still works."""
    layer = FastLSTM(3, recurrent_dropout=0.5)
    layer.build((None, None, 4))
    assert not layer._fast_path_applies()
    x, _ = _inputs(False)
    assert tuple(layer(x, training=True).shape) == (3, 3)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_weights_saved_with_the_stock_block_load_into_the_fast_block(cell, tmp_path):
    """Runs trained before the fast layers existed keep loading (same weight paths)."""
    from common.layers.recurrent import RecurrentBlock

    def model(implementation):
        inputs = keras.Input((None, 4))
        block = RecurrentBlock(cell=cell, units=3, num_layers=2, bidirectional=True,
                               implementation=implementation)
        return keras.Model(inputs, block(inputs))
    stock, fast = model("keras"), model("fast")
    stock.save_weights(tmp_path / "stock.weights.h5")
    fast.load_weights(tmp_path / "stock.weights.h5")
    x, _ = _inputs(False)
    np.testing.assert_allclose(fast.predict(x, verbose=0), stock.predict(x, verbose=0), atol=TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_xla_time_loops_match_the_plain_loops_on_a_length_that_needs_padding(cell):
    # 6 steps are padded to the 8-step bucket inside the XLA loops and cut back afterwards.
    xla, _ = _pair(cell, True, return_sequences=True, return_state=True)
    plain, _ = _pair(cell, True, return_sequences=True, return_state=True)
    for direction in (plain.forward_layer, plain.backward_layer):
        direction.jit_recurrence = False
    x, mask = _inputs(with_mask=True)
    for a, b in zip(sum(_run(xla, x, mask, compiled=True), []), sum(_run(plain, x, mask, compiled=True), [])):
        np.testing.assert_allclose(a, b, atol=TOL, rtol=TOL)


HARNESS_X, HARNESS_MASK = _inputs(with_mask=True)
# (init kwargs, output shapes, output mask) with LSTM's two states; GRU returns one state fewer.
HARNESS_CASES = {
    "sequences": ({"units": 4, "return_sequences": True}, (3, 6, 4), HARNESS_MASK),
    "backwards-with-state": ({"units": 4, "return_state": True, "go_backwards": True},
                             [(3, 4)] * 3, [None] * 3),
    "dropout": ({"units": 7, "return_sequences": True, "go_backwards": True, "dropout": 0.25},
                (3, 6, 7), HARNESS_MASK),
    "no-xla": ({"units": 4, "jit_recurrence": False}, (3, 4), NO_MASK),
}


@pytest.mark.parametrize("case", HARNESS_CASES)
def test_fast_lstm_passes_the_layer_harness(case, tmp_path):
    init_kwargs, shape, mask = HARNESS_CASES[case]
    run_layer_test(FastLSTM, init_kwargs, HARNESS_X, tmp_path, input_mask=HARNESS_MASK,
                   expected_output_shape=shape, expected_mask=mask)


@pytest.mark.parametrize("case", HARNESS_CASES)
def test_fast_gru_passes_the_layer_harness(case, tmp_path):
    init_kwargs, shape, mask = HARNESS_CASES[case]
    if init_kwargs.get("return_state"):
        shape, mask = shape[:2], mask[:2]
    run_layer_test(FastGRU, init_kwargs, HARNESS_X, tmp_path, input_mask=HARNESS_MASK,
                   expected_output_shape=shape, expected_mask=mask)


# ---- batch parts: the XLA loops of a small matmul run on slices of the batch side by side ----------
def test_batch_parts_cut_a_small_matmul_into_one_part_per_thread(monkeypatch):
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 2)
    assert fast_rnn.batch_parts(64, 128, 4) == 2


def test_batch_parts_leave_a_matmul_that_xla_threads_itself_whole(monkeypatch):
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 2)
    assert fast_rnn.batch_parts(64, 256, 4) == 1  # 64 x 256 x 1024 = SPLIT_BELOW_MACS


def test_batch_parts_share_the_threads_with_concurrent_layers(monkeypatch):
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 4)
    assert fast_rnn.batch_parts(64, 64, 4, concurrent_layers=2) == 2
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 2)
    assert fast_rnn.batch_parts(64, 64, 4, concurrent_layers=2) == 1


def test_batch_parts_keep_at_least_the_minimum_rows_per_part(monkeypatch):
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 8)
    assert fast_rnn.batch_parts(40, 32, 3) == 40 // fast_rnn.MIN_PART_ROWS
    assert fast_rnn.batch_parts(8, 32, 3) == 1


def test_batch_parts_take_an_unknown_batch_as_the_nominal_one(monkeypatch):
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 8)
    assert fast_rnn.batch_parts(None, 32, 3) == fast_rnn.NOMINAL_BATCH // fast_rnn.MIN_PART_ROWS


def test_parallel_threads_follow_the_inter_op_pool_and_the_usable_cpus():
    cpus = len(os.sched_getaffinity(0))
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    assert fast_rnn.parallel_threads() == (min(inter, cpus) if inter else cpus)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("batch_shape", ["known", "unknown"])
def test_batch_parts_compute_what_the_stock_layer_computes(cell, batch_shape, monkeypatch):
    # 50 rows in 3 parts: one padded row, masked rows and holes in every part
    monkeypatch.setattr(fast_rnn, "parallel_threads", lambda: 3)
    calls = []
    in_parts = fast_rnn._in_parts
    monkeypatch.setattr(fast_rnn, "_in_parts", lambda run, parts, *args: calls.append(parts) or
                        in_parts(run, parts, *args))
    fast, stock = _pair(cell, False, return_sequences=True, return_state=True)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(50, 6, 4)).astype(np.float32)
    mask = rng.random((50, 6)) > 0.3
    mask[:, 0] = True
    signature = [tf.TensorSpec([50 if batch_shape == "known" else None, 6, 4], tf.float32),
                 tf.TensorSpec([50 if batch_shape == "known" else None, 6], tf.bool)]
    fast_fn = tf.function(lambda x, m: _outputs_and_grads(fast, x, m, True), input_signature=signature)
    fast_out, fast_grads = fast_fn(x, mask)
    stock_out, stock_grads = _outputs_and_grads(stock, x, mask, True)
    assert calls and set(calls) == {3}
    for a, b in zip(list(fast_out) + list(fast_grads), list(stock_out) + list(stock_grads)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=TOL, rtol=TOL)


def test_recurrent_block_tells_its_bidirectional_layers_they_run_side_by_side():
    from common.layers.recurrent import RecurrentBlock
    block = RecurrentBlock("lstm", 8, bidirectional=True)
    wrapper = block.rnns[0]
    assert wrapper.forward_layer.concurrent_layers == wrapper.backward_layer.concurrent_layers == 2
    assert RecurrentBlock("gru", 8).rnns[0].concurrent_layers == 1



def test_stock_is_faster_from_the_threshold_of_multiply_adds_per_step():
    # GRU, 256 units: 256 * 3 * 256 = 196,608 multiply-adds per row; 2^26 = 67,108,864
    assert not fast_rnn.stock_is_faster(341, 256, "gru")  # 67,043,328
    assert fast_rnn.stock_is_faster(342, 256, "gru")  # 67,239,936
    assert fast_rnn.stock_is_faster(256, 256, "lstm")  # exactly 2^26
    assert not fast_rnn.stock_is_faster(255, 256, "lstm")
    assert not fast_rnn.stock_is_faster(10 ** 6, 256, "simple_rnn")  # no fast layer to compare with
