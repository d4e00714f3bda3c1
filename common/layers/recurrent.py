"""The shared recurrent block: a configurable stack of SimpleRNN / LSTM / GRU layers.

Every task builds its recurrent part from the same ``RNNConfig`` section so that
cell type, depth, direction, dropout and normalisation mean the same thing
everywhere. Masks from ``mask_zero`` embeddings or ``Masking`` flow through the
whole stack, so padding never reaches a recurrent state.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from common.config import option
from common.layers.fast_rnn import FastGRU, FastLSTM, stock_is_faster

CELLS = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
# Same weights, config and results as CELLS (tests/test_fast_rnn.py); saved models load
# with any implementation. "auto" takes the fast layer where it measured faster than the
# stock one on a CPU (docs/benchmarks.md): with XLA time loops, LSTM and GRU both, unless the
# model's training batch makes steps so large that the stock layer is faster (`fast_rnn.stock_is_faster`).
FAST_CELLS = {**CELLS, "lstm": FastLSTM, "gru": FastGRU}
IMPLEMENTATIONS = {"auto": FAST_CELLS, "fast": FAST_CELLS, "keras": CELLS}


@dataclass
class RNNConfig:
    cell: str = option("lstm", "Recurrent cell.", choices=list(CELLS))
    units: int = option(64, "Hidden units per layer (per direction).", min=1)
    layers: int = option(1, "Number of stacked recurrent layers.", min=1)
    bidirectional: bool = option(False, "Run each layer forwards and backwards and concatenate.")
    dropout: float = option(0.0, "Dropout on each layer's inputs.", min=0.0, max=0.95)
    recurrent_dropout: float = option(0.0, "Dropout on the recurrent state (disables the fused "
                                      "kernel, so it is slower).", min=0.0, max=0.95)
    layer_norm: bool = option(False, "Layer normalization between stacked layers.")
    implementation: str = option("auto", "LSTM/GRU implementation: 'fast' (hoisted input projection, "
                                 "hand-written gradient; same numbers), 'keras' (the stock layers) or "
                                 "'auto' (fast where it measured faster: LSTM and GRU, except for training "
                                 "steps of batch x units^2 x gates >= 2^26, where the stock layer is).",
                                 choices=list(IMPLEMENTATIONS))

    def block_kwargs(self) -> dict:
        return {"cell": self.cell, "units": self.units, "num_layers": self.layers,
                "bidirectional": self.bidirectional, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "layer_norm": self.layer_norm,
                "implementation": self.implementation}


def stacked_layers(cell, units, num_layers, implementation, dropout, recurrent_dropout, layer_norm, *,
                   bidirectional=False, outputs=lambda last: {}, rows=None):
    """The sublayers of a recurrent stack: ``(rnns, norms)``, checked and named ``<cell>_<i>`` (or
    ``bi_<cell>_<i>``) and ``norm_<i>`` (between layers), created interleaved so that every stack
    built here has the same weight order and its weights load into any other of the same config.
    ``outputs(last)``: extra keyword arguments of a layer (``return_sequences``/``return_state``).
    ``rows``: the rows of a training batch, where the model knows them; "auto" then builds the stock
    layer when they make the steps large (`fast_rnn.stock_is_faster`)."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {sorted(IMPLEMENTATIONS)}, got {implementation!r}")
    rnns, norms = [], []
    for i in range(num_layers):
        last = i == num_layers - 1
        layer_class, kwargs = IMPLEMENTATIONS[implementation][cell], outputs(last)
        if implementation == "auto" and rows and stock_is_faster(rows, units, cell):
            layer_class = CELLS[cell]
        if bidirectional and layer_class is not CELLS[cell]:
            kwargs = {**kwargs, "concurrent_layers": 2}  # the fast layers: the two directions run side by side
        rnn = layer_class(units, dropout=dropout, recurrent_dropout=recurrent_dropout, name=f"{cell}_{i}", **kwargs)
        rnns.append(keras.layers.Bidirectional(rnn, name=f"bi_{cell}_{i}") if bidirectional else rnn)
        if layer_norm and not last:
            norms.append(keras.layers.LayerNormalization(name=f"norm_{i}"))
    return rnns, norms


def build_stack(rnns, norms, input_shape, width) -> None:
    """Build the sublayers of `stacked_layers` for ``input_shape``; every layer outputs ``width`` features."""
    shape = tuple(input_shape)
    for i, rnn in enumerate(rnns):
        rnn.build(shape)
        shape = shape[:2] + (width,)
        if i < len(norms):
            norms[i].build(shape)


@keras.saving.register_keras_serializable(package="rnnsuite")
class RecurrentBlock(keras.layers.Layer):
    """Stacked (bi)directional recurrent layers with optional layer norm in between.

    Input ``[batch, time, features]`` (with an optional mask). Output
    ``[batch, time, units * directions]`` when ``return_sequences``, else the last
    valid step's output ``[batch, units * directions]``. With ``return_state`` the
    final states of the last layer are returned too (forward then backward).
    """

    def __init__(self, cell="lstm", units=64, num_layers=1, bidirectional=False, dropout=0.0,
                 recurrent_dropout=0.0, layer_norm=False, return_sequences=False,
                 return_state=False, implementation="auto", rows=None, **kwargs):
        super().__init__(**kwargs)
        self.implementation = implementation
        self.rows = rows  # a training batch's rows, where the model knows them: see `stacked_layers`
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.layer_norm = layer_norm
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.supports_masking = True
        self.rnns, self.norms = stacked_layers(
            cell, units, num_layers, implementation, dropout, recurrent_dropout, layer_norm,
            bidirectional=bidirectional, rows=rows,
            outputs=lambda last: {"return_sequences": (not last) or return_sequences,
                                  "return_state": last and return_state})

    def build(self, input_shape):
        build_stack(self.rnns, self.norms, input_shape, self.units * (2 if self.bidirectional else 1))
        self.built = True

    def call(self, inputs, mask=None, training=None):
        x = inputs
        for i, rnn in enumerate(self.rnns):
            x = rnn(x, mask=mask, training=training)
            if i < len(self.norms):
                x = self.norms[i](x)
        return x

    def _num_states(self):
        return (2 if self.cell == "lstm" else 1) * (2 if self.bidirectional else 1)

    def compute_mask(self, inputs, mask=None):
        # As Keras' RNN layers: the output sequence keeps the mask, a final state has none.
        output_mask = mask if self.return_sequences else None
        if not self.return_state:
            return output_mask
        return [output_mask] + [None] * self._num_states()

    def compute_output_shape(self, input_shape):
        width = self.units * (2 if self.bidirectional else 1)
        out = (input_shape[0], input_shape[1], width) if self.return_sequences else (input_shape[0], width)
        if not self.return_state:
            return out
        return [out] + [(input_shape[0], self.units)] * self._num_states()

    def get_config(self):
        config = super().get_config()
        config.update(cell=self.cell, units=self.units, num_layers=self.num_layers,
                      bidirectional=self.bidirectional, dropout=self.dropout,
                      recurrent_dropout=self.recurrent_dropout, layer_norm=self.layer_norm,
                      return_sequences=self.return_sequences, return_state=self.return_state,
                      implementation=self.implementation, rows=self.rows)
        return config


def recurrent_block(config: RNNConfig, return_sequences=False, return_state=False, name="recurrent"):
    """Build a `RecurrentBlock` from a task's ``model.rnn`` config section."""
    return RecurrentBlock(return_sequences=return_sequences, return_state=return_state, name=name,
                          **config.block_kwargs())
