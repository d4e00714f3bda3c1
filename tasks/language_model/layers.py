"""The language model's recurrent stack, which carries its state from one call to the next.

Why not Keras' own ``stateful=True``: it fixes the batch size of every layer it is
set on, and the exported generator must run the same weights on any number of
prompts (times the beam width). Why not the shared `RecurrentBlock`: it takes no
initial state and returns no final states per layer. So `StatefulRecurrent`
builds the same stack (same sublayer names ``<cell>_<i>`` / ``norm_<i>``, same
weight order, so its weights load into a `RecurrentBlock` of the same config with
``set_weights``) from the same cells (the suite's fast LSTM/GRU where
``implementation`` says so: they run any initial state), and adds two things:

- ``forward(inputs, states)`` returns the outputs and every layer's final states:
  the exported scorer and generator call it with explicit states (zeros, or the
  state after the prompt) on any batch size;
- with ``batch_size`` set, calling the layer starts from the states left by the
  previous call and stores its final states (stateful truncated BPTT: gradients
  stop at the window edge). ``reset_states()`` zeroes them; `ResetStates` does it
  at the start of every epoch and of every evaluation pass. The carried states
  are plain ``tf.Variable`` s, not Keras weights: they are run-time memory, so
  they are neither saved with the model nor part of ``get_weights()``.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from common.layers.recurrent import build_stack, stacked_layers


@keras.saving.register_keras_serializable(package="rnnsuite")
class StatefulRecurrent(keras.layers.Layer):
    """Stacked unidirectional SimpleRNN / LSTM / GRU, ``[batch, time, features] -> [batch, time, units]``."""

    def __init__(self, cell="lstm", units=64, num_layers=1, dropout=0.0, recurrent_dropout=0.0,
                 layer_norm=False, implementation="auto", batch_size=None, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.layer_norm = layer_norm
        self.implementation = implementation
        self.batch_size = batch_size
        self.supports_masking = True
        self.rnns, self.norms = stacked_layers(
            cell, units, num_layers, implementation, dropout, recurrent_dropout, layer_norm,
            outputs=lambda last: {"return_sequences": True, "return_state": True})
        self._carried = []

    @property
    def states_per_layer(self) -> int:
        return 2 if self.cell == "lstm" else 1

    def build(self, input_shape):
        build_stack(self.rnns, self.norms, input_shape, self.units)
        if self.batch_size is not None:
            self._carried = [tf.Variable(tf.zeros([self.batch_size, self.units]), trainable=False)
                             for _ in range(self.num_layers * self.states_per_layer)]
        self.built = True

    def zero_states(self, batch) -> list:
        return [[tf.zeros([batch, self.units]) for _ in range(self.states_per_layer)]
                for _ in range(self.num_layers)]

    def flat_states(self, states) -> list:
        return [s for layer in states for s in layer]

    def nested_states(self, flat) -> list:
        k = self.states_per_layer
        return [list(flat[i * k:(i + 1) * k]) for i in range(self.num_layers)]

    def forward(self, inputs, states, mask=None, training=None):
        """Outputs ``[batch, time, units]`` and the final states (one list per layer) from ``states``.

        The states are float32 in and out, whatever the layers compute in (bfloat16 in a
        ``mixed_bfloat16`` model): the carried variables, `zero_states` and the exported generator's
        loop all hold them in float32, and a state rounded to bfloat16 at every window would drift."""
        x = inputs
        final = []
        for i, rnn in enumerate(self.rnns):
            out = rnn(x, initial_state=states[i], mask=mask, training=training)
            x = out[0]
            final.append([tf.cast(state, tf.float32) for state in out[1:]])
            if i < len(self.norms):
                x = self.norms[i](x)
        return x, final

    def reset_states(self):
        for variable in self._carried:
            variable.assign(tf.zeros_like(variable))

    def call(self, inputs, mask=None, training=None):
        if self.batch_size is None:
            return self.forward(inputs, self.zero_states(tf.shape(inputs)[0]), mask, training)[0]
        start = self.nested_states([tf.stop_gradient(tf.convert_to_tensor(v)) for v in self._carried])
        outputs, final = self.forward(inputs, start, mask, training)
        for variable, value in zip(self._carried, self.flat_states(final)):
            variable.assign(tf.stop_gradient(value))
        return outputs

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(cell=self.cell, units=self.units, num_layers=self.num_layers, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout, layer_norm=self.layer_norm,
                      implementation=self.implementation, batch_size=self.batch_size)
        return config


class ResetStates(keras.callbacks.Callback):
    """Zero the carried states at the start of every epoch and every evaluation pass (validation too)."""

    def _reset(self):
        for layer in self.model.layers:
            if isinstance(layer, StatefulRecurrent):
                layer.reset_states()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()

    def on_test_begin(self, logs=None):
        self._reset()
