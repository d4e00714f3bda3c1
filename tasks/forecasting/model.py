"""Recurrent forecasters: direct multi-horizon and encoder-decoder, with optional RevIN.

One layer holds the whole forecaster so the saved model has a single, plainly
configured custom object. Two ideas from the long-horizon literature make a
small RNN competitive on benchmarks such as ETTh1:

- channel independence (PatchTST, SegRNN): every variable is forecast as its own
  univariate series by one shared network;
- segments (SegRNN): the lookback is cut into ``patch_len``-step segments that
  are embedded and fed to the RNN as few, wide steps instead of many narrow ones;
- reversible instance normalization (RevIN, Kim et al. 2022): each window is
  standardized by its own mean/std and the forecast is mapped back.
"""
from __future__ import annotations

import keras
from keras import ops

from common.layers.recurrent import CELLS, RecurrentBlock

DECODER_CELLS = {"simple_rnn": keras.layers.SimpleRNNCell, "lstm": keras.layers.LSTMCell,
                 "gru": keras.layers.GRUCell}


@keras.saving.register_keras_serializable(package="rnnsuite")
class RecurrentForecaster(keras.layers.Layer):
    """``history [batch, lookback, features]`` (scaled) -> ``forecast [batch, horizon, targets]``.

    ``kind="direct"``: encoder -> dense head emitting all horizon steps at once.
    ``kind="seq2seq"``: encoder -> autoregressive decoder; when ``future`` (the true
    scaled targets) is given and ``training`` is true, the decoder is fed the true
    previous value (teacher forcing), otherwise its own previous output.
    """

    def __init__(self, lookback, horizon, n_features, target_indices, kind="direct", rnn=None,
                 channel_independent=True, patch_len=1, d_model=0, instance_norm=True, head_dropout=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.lookback, self.horizon, self.n_features = lookback, horizon, n_features
        self.target_indices = list(target_indices)
        self.kind = kind
        self.rnn = dict(rnn or {})
        self.channel_independent = channel_independent
        self.patch_len = patch_len
        self.d_model = d_model
        self.instance_norm = instance_norm
        self.head_dropout = head_dropout
        self.series_outputs = 1 if channel_independent else len(self.target_indices)
        self.embed = keras.layers.Dense(d_model, activation="relu", name="segment_embedding") if d_model else None
        self.encoder = RecurrentBlock(return_sequences=False, name="encoder", **self.rnn)
        self.dropout = keras.layers.Dropout(head_dropout)
        units = self.rnn.get("units", 64)
        if kind == "direct":
            self.head = keras.layers.Dense(horizon * self.series_outputs, name="head")
        else:
            cell_type = self.rnn.get("cell", "gru")
            self.bridge = [keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}")
                           for i in range(2 if cell_type == "lstm" else 1)]
            self.decoder_cell = DECODER_CELLS[cell_type](units, name="decoder_cell")
            self.decoder = keras.layers.RNN(self.decoder_cell, return_sequences=True, name="decoder")
            self.head = keras.layers.Dense(self.series_outputs, name="head")
        if instance_norm:
            # RevIN's learnable per-channel affine transform.
            self.affine_weight = self.add_weight(shape=(n_features,), initializer="ones", name="revin_weight")
            self.affine_bias = self.add_weight(shape=(n_features,), initializer="zeros", name="revin_bias")

    def build(self, history_shape, future_shape=None):
        steps = self.lookback // self.patch_len
        width = self.patch_len * (1 if self.channel_independent else self.n_features)
        if self.embed is not None:
            self.embed.build((None, steps, width))
            width = self.d_model
        self.encoder.build((None, steps, width))
        encoded = self.rnn.get("units", 64) * (2 if self.rnn.get("bidirectional") else 1)
        if self.kind == "direct":
            self.head.build((None, encoded))
        else:
            for layer in self.bridge:
                layer.build((None, encoded))
            self.decoder.build((None, self.horizon, self.series_outputs))
            self.head.build((None, self.rnn.get("units", 64)))
        self.built = True

    # -- helpers ------------------------------------------------------------------------
    def _to_series(self, x):
        """[B, L, F] -> [B', steps, width] (one row per channel when channel independent)."""
        if self.channel_independent:
            x = ops.reshape(ops.transpose(x, (0, 2, 1)), (-1, self.lookback, 1))
        steps = self.lookback // self.patch_len
        width = self.patch_len * (1 if self.channel_independent else self.n_features)
        return ops.reshape(x, (-1, steps, width))

    def _from_series(self, y):
        """[B', H, outputs] -> [B, H, T] (or all channels when channel independent)."""
        if self.channel_independent:
            y = ops.reshape(y, (-1, self.n_features, self.horizon))
            return ops.transpose(y, (0, 2, 1))
        return y

    def _decode(self, encoded, first, future, training):
        states = [layer(encoded) for layer in self.bridge]
        if future is not None and training:
            inputs = ops.concatenate([first[:, None, :], future[:, :-1, :]], axis=1)
            return self.head(self.decoder(inputs, initial_state=states, training=training))
        outputs, step_input = [], first
        for _ in range(self.horizon):
            out, states = self.decoder_cell(step_input, states, training=training)
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            step_input = self.head(out)
            outputs.append(step_input)
        return ops.stack(outputs, axis=1)

    # -- forward ------------------------------------------------------------------------
    def call(self, history, future=None, training=None):
        x = history
        if self.instance_norm:
            mean = ops.mean(x, axis=1, keepdims=True)
            std = ops.sqrt(ops.var(x, axis=1, keepdims=True) + 1e-5)
            x = (x - mean) / std * self.affine_weight + self.affine_bias
        channels = list(range(self.n_features)) if self.channel_independent else self.target_indices
        if future is not None and self.instance_norm:
            # ``future`` holds the channels the decoder emits: all of them when channel
            # independent, else the targets (see `future_channels`).
            w = ops.take(self.affine_weight, channels)
            b = ops.take(self.affine_bias, channels)
            future = (future - ops.take(mean, channels, axis=2)) / ops.take(std, channels, axis=2) * w + b
        series = self._to_series(x)
        if self.embed is not None:
            series = self.embed(series)
        encoded = self.dropout(self.encoder(series, training=training), training=training)
        if self.kind == "direct":
            y = ops.reshape(self.head(encoded), (-1, self.horizon, self.series_outputs))
        else:
            last = x[:, -1, :]
            if self.channel_independent:
                first = ops.reshape(last, (-1, 1))
                if future is not None:  # teacher forcing per channel: targets must cover all channels
                    future = ops.reshape(ops.transpose(future, (0, 2, 1)), (-1, self.horizon, 1))
            else:
                first = ops.take(last, self.target_indices, axis=1)
            y = self._decode(encoded, first, future, training)
        y = self._from_series(y)
        if self.instance_norm:
            w = ops.take(self.affine_weight, channels)
            b = ops.take(self.affine_bias, channels)
            y = (y - b) / (w + 1e-10) * ops.take(std, channels, axis=2) + ops.take(mean, channels, axis=2)
        if self.channel_independent:
            y = ops.take(y, self.target_indices, axis=2)
        return y

    def future_channels(self) -> list[int]:
        """Feature indices the teacher-forcing ``future`` input must contain."""
        return list(range(self.n_features)) if self.channel_independent else self.target_indices

    def get_config(self):
        config = super().get_config()
        config.update(lookback=self.lookback, horizon=self.horizon, n_features=self.n_features,
                      target_indices=self.target_indices, kind=self.kind, rnn=self.rnn,
                      channel_independent=self.channel_independent, patch_len=self.patch_len,
                      d_model=self.d_model, instance_norm=self.instance_norm, head_dropout=self.head_dropout)
        return config


def build_forecaster(config, state: dict) -> keras.Model:
    """The Keras model ``fit`` trains: scaled ``history`` (plus ``future`` targets for seq2seq's teacher
    forcing) in, the scaled forecast out; the layer is named ``forecaster`` for the export and predict code."""
    d, m = config.data, config.model
    features = state["features"]
    layer = RecurrentForecaster(
        lookback=d.lookback, horizon=d.horizon, n_features=len(features),
        target_indices=[features.index(t) for t in state["targets"]], kind=m.kind, rnn=m.rnn.block_kwargs(),
        channel_independent=m.channel_independent, patch_len=m.patch_len, d_model=m.d_model,
        instance_norm=m.instance_norm, head_dropout=m.head_dropout, name="forecaster")
    history = keras.Input((d.lookback, len(features)), name="history")
    inputs = {"history": history}
    if m.kind == "seq2seq":
        future = keras.Input((d.horizon, len(layer.future_channels())), name="future")
        inputs["future"] = future
        outputs = layer(history, future)
    else:
        outputs = layer(history)
    return keras.Model(inputs, outputs, name="forecaster_model")


assert set(DECODER_CELLS) == set(CELLS)
