"""A recurrent decoder fed with its attention context (Bahdanau et al., 2015).

At step ``t`` the previous state ``s_{t-1}`` queries the encoder outputs; the
context ``c_t`` is concatenated to the input embedding and fed into the cell:
``s_t = cell([y_{t-1}; c_t], s_{t-1})``. The state therefore knows what it has
already attended to, which curbs the repeated phrases that a decoder whose
attention only reads its outputs (Luong et al., 2015, ``feed_context: false``)
produces early in training. The price is a step-by-step loop in training too
(the teacher-forced Luong decoder runs all target steps as one sequence op).

``layer(embedded, memory, initial_state=[...], source_mask=mask)`` returns
``(outputs, contexts)``, both ``[batch, T, ...]``; `step` is the same
computation for one step, used by the decoding loop.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from common.layers.attention import make_attention

DECODER_CELL_CLASSES = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell}


@keras.saving.register_keras_serializable(package="rnnsuite")
class ContextFeedingDecoder(keras.layers.Layer):
    """GRU/LSTM decoder whose cell input is ``[embedding; attention context]``."""

    def __init__(self, cell="gru", units=256, attention="bahdanau", attention_units=128, **kwargs):
        super().__init__(**kwargs)
        if cell not in DECODER_CELL_CLASSES:
            raise ValueError(f"cell must be one of {', '.join(DECODER_CELL_CLASSES)}, got {cell!r}")
        self.cell_type, self.units = cell, units
        self.attention_type, self.attention_units = attention, attention_units
        self.cell = DECODER_CELL_CLASSES[cell](units, name="cell")
        self.attention = make_attention(attention, units=attention_units, name="attention")

    def build(self, inputs_shape, memory_shape=None, **kwargs):
        self.attention.build((inputs_shape[0], self.units), memory_shape)
        self.cell.build((inputs_shape[0], inputs_shape[-1] + memory_shape[-1]))
        self.built = True

    def step(self, inputs, state, memory, keys, source_mask=None):
        """One step: ``inputs`` ``[batch, emb]`` -> ``(output, context, new_state, weights)``.

        ``inputs`` is cast to the layer's compute dtype: the decoding loop calls this method directly
        (not through Keras, which would cast), with an embedding row read from the float32 variable,
        while the context is bfloat16 in a ``mixed_bfloat16`` model."""
        context, weights = self.attention(state[0], memory, keys=keys, source_mask=source_mask)
        inputs = tf.cast(inputs, context.dtype)
        output, new_state = self.cell(tf.concat([inputs, context], axis=-1), list(state))
        new_state = list(new_state) if isinstance(new_state, (list, tuple)) else [new_state]
        return output, context, new_state, weights

    def call(self, inputs, memory, initial_state=None, source_mask=None, training=None):
        keys = self.attention.project_keys(memory)
        steps = tf.transpose(inputs, [1, 0, 2])  # time-major for the loop
        n = tf.shape(steps)[0]
        outputs = tf.TensorArray(inputs.dtype, size=n)
        contexts = tf.TensorArray(inputs.dtype, size=n)

        def body(t, state, outputs, contexts):
            output, context, state, _ = self.step(steps[t], state, memory, keys, source_mask)
            return t + 1, state, outputs.write(t, output), contexts.write(t, context)

        _, _, outputs, contexts = tf.while_loop(lambda t, *_: t < n, body,
                                                (tf.constant(0), list(initial_state), outputs, contexts))
        # Padded target positions are computed too; the loss masks them and, the decoder being
        # causal, they never influence a real position.
        return (tf.transpose(outputs.stack(), [1, 0, 2]), tf.transpose(contexts.stack(), [1, 0, 2]))

    def compute_output_spec(self, inputs, memory, initial_state=None, source_mask=None, training=None):
        batch, length = inputs.shape[0], inputs.shape[1]
        return (keras.KerasTensor((batch, length, self.units), dtype=self.compute_dtype),
                keras.KerasTensor((batch, length, memory.shape[-1]), dtype=self.compute_dtype))

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        return {**super().get_config(), "cell": self.cell_type, "units": self.units,
                "attention": self.attention_type, "attention_units": self.attention_units}
