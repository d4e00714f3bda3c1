"""The profile benchmark's pure parts: which phase of a training step an op's name scope belongs to, and the
op times it reads back from TensorFlow's profiler."""
import keras
import pytest
import tensorflow as tf

from benchmarks.profile import Scopes, op_self_times
from common.layers.attention import BahdanauAttention
from common.layers.recurrent import RecurrentBlock


@pytest.fixture(scope="module")
def scopes():
    tokens = keras.Input((5,), dtype="int32")
    x = keras.layers.Embedding(20, 4, name="embedding")(tokens)
    x = RecurrentBlock(cell="gru", units=4, return_sequences=True, name="encoder")(x)
    x, _ = BahdanauAttention(units=4, name="attention")(x, x)
    x = keras.layers.Dense(3, name="mix")(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling1D(name="pool")(x))
    return Scopes(keras.Model(tokens, out, name="tagger"))


@pytest.mark.parametrize("op, phase", [
    ("tagger_1/encoder_1/gru_0_1/while/body/MatMul", "recurrence"),  # a recurrent block, by its class
    ("gradient_tape/tagger_1/encoder_1/gru_0_1/PartitionedCall", "recurrence"),  # its backward pass
    ("tagger_1/attention_1/MatMul", "attention"),
    ("tagger_1/encoder_1/while/body/attention_1/MatMul", "attention"),  # attention inside a decoder's loop
    ("tagger_1/head_1/BiasAdd", "output"),  # makes the model's output
    ("gradient_tape/tagger_1/head_1/MatMul_1", "output"),
    ("tagger_1/embedding_1/GatherV2", "embedding"),
    ("tagger_1/mix_1/Tensordot", "other layers"),
    ("compile_loss/sparse_categorical_crossentropy/Mean", "loss"),
    ("gradient_tape/compile_loss/mse/Mul", "loss"),
    ("adam/Sub_3", "optimizer"),
    ("AssignVariableOp_2", "optimizer"),
    ("Add_1", "rest"),  # Keras' step bookkeeping and metrics
])
def test_an_op_belongs_to_the_phase_its_name_scope_says(scopes, op, phase):
    assert scopes.phase(op) == phase


def test_the_profiler_op_times_name_the_layers_that_ran(tmp_path):
    inputs = keras.Input((6, 3))
    outputs = keras.layers.Dense(2, name="head")(keras.layers.LSTM(4, name="rec")(inputs))
    model = keras.Model(inputs, outputs, name="small")
    model.compile("adam", "mse")
    x, y = tf.random.normal([8, 6, 3]), tf.random.normal([8, 2])
    model.train_on_batch(x, y)
    tf.profiler.experimental.start(str(tmp_path))
    model.train_on_batch(x, y)
    tf.profiler.experimental.stop()
    times = op_self_times(str(tmp_path))
    assert all(micros >= 0 for _, micros in times) and sum(micros for _, micros in times) > 0
    phases = {Scopes(model).phase(name) for name, _ in times}
    assert {"recurrence", "output", "loss", "optimizer"} <= phases
