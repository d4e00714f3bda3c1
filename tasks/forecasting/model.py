"""Recurrent forecasters: direct multi-horizon and encoder-decoder, with optional RevIN.

One layer holds the whole forecaster so the saved model has a single, plainly
configured custom object. Two ideas from the long-horizon literature make a
small RNN competitive on benchmarks such as ETTh1:

- channel independence (PatchTST, SegRNN): every variable is forecast as its own
  univariate series by one shared network;
- segments (SegRNN): the lookback is cut into ``patch_len``-step segments that
  are embedded and fed to the RNN as few, wide steps instead of many narrow ones;
- reversible instance normalization (RevIN, Kim et al. 2022): each window is
  standardized by its own mean/std and the forecast is mapped back;
- a linear skip (``linear_skip``, the "highway" of LSTNet, Lai et al. 2018): a
  linear map from each normalized channel's lookback to its horizon, added to
  the recurrent forecast, so the network only has to learn what a linear
  forecaster (a strong baseline on ETT) misses;
- a channel embedding (``channel_embedding``, SegRNN's channel identity): with
  channel independence one network serves every variable, and a learned vector
  per variable beside the encoder state lets the head tell them apart.

Two options extend the horizon part. Known-future inputs (``future_covariates``:
columns known in advance, then calendar features) go through a small per-step
network on ``[encoder state, that step's inputs]`` plus a linear skip, added to
the forecast (known-future columns are normalized by their own history's RevIN
statistics, so "target equals covariate" is a linear map). Quantiles: a second
head emits, per step, softplus gaps between neighbouring levels, accumulated
outward from the point forecast (the level nearest 0.5) and scaled by the
window's std, so the levels never cross.
"""
from __future__ import annotations

import keras
from keras import ops

from common.layers.recurrent import CELLS, RecurrentBlock
from tasks.forecasting.data import known_future

DECODER_CELLS = {"simple_rnn": keras.layers.SimpleRNNCell, "lstm": keras.layers.LSTMCell,
                 "gru": keras.layers.GRUCell}


@keras.saving.register_keras_serializable(package="rnnsuite")
class RecurrentForecaster(keras.layers.Layer):
    """``history [batch, lookback, features]`` (scaled) -> ``forecast [batch, horizon, targets]``.

    ``kind="direct"``: encoder -> dense head emitting all horizon steps at once.
    ``kind="seq2seq"``: encoder -> autoregressive decoder; when ``future`` (the true
    scaled targets) is given and ``training`` is true, the decoder is fed the true
    previous value (teacher forcing), otherwise its own previous output.
    ``future_covariates [batch, horizon, len(future_covariate_indices) + n_calendar]``: the
    known-future inputs (required when the layer has any). With ``quantiles`` the output is
    ``[batch, horizon, targets, quantiles]``.

    Precision: the layer itself is float32 (`build_forecaster` says so), and so are its output heads
    (``head``, ``linear_skip``, ``future_out``, ``future_skip``, ``quantile_spread``): RevIN's statistics,
    the de-normalization and the forecast need float32's mantissa (bfloat16 keeps under three significant
    digits), and they cost little. The network in between (segment embedding, encoder, bridges, decoder,
    known-future hidden layer) takes the global policy when the layer is made, so in a ``mixed_bfloat16``
    model it computes in bfloat16; its outputs are cast back here.
    """

    def __init__(self, lookback, horizon, n_features, target_indices, kind="direct", rnn=None,
                 channel_independent=True, patch_len=1, d_model=0, instance_norm=True, head_dropout=0.0,
                 linear_skip=False, channel_embedding=0, quantiles=None, future_covariate_indices=(),
                 n_calendar=0, **kwargs):
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
        self.linear_skip = linear_skip
        self.channel_embedding = channel_embedding
        self.quantiles = [float(q) for q in quantiles or []]
        self.future_covariate_indices = list(future_covariate_indices)
        self.n_calendar = n_calendar
        self.n_known = len(self.future_covariate_indices) + n_calendar
        self.series_outputs = 1 if channel_independent else len(self.target_indices)
        self.embed = keras.layers.Dense(d_model, activation="relu", name="segment_embedding") if d_model else None
        self.encoder = RecurrentBlock(return_sequences=False, name="encoder", **self.rnn)
        self.dropout = keras.layers.Dropout(head_dropout)
        units = self.rnn.get("units", 64)
        if kind == "direct":
            self.head = keras.layers.Dense(horizon * self.series_outputs, dtype="float32", name="head")
        else:
            cell_type = self.rnn.get("cell", "gru")
            self.bridge = [keras.layers.Dense(units, activation="tanh", name=f"bridge_{i}")
                           for i in range(2 if cell_type == "lstm" else 1)]
            self.decoder_cell = DECODER_CELLS[cell_type](units, name="decoder_cell")
            self.decoder = keras.layers.RNN(self.decoder_cell, return_sequences=True, name="decoder")
            self.head = keras.layers.Dense(self.series_outputs, dtype="float32", name="head")
        if linear_skip:
            self.skip = keras.layers.Dense(horizon, dtype="float32", name="linear_skip")
        if self.n_known:
            self.future_hidden = keras.layers.Dense(units, activation="relu", name="future_hidden")
            self.future_out = keras.layers.Dense(self.series_outputs, dtype="float32", name="future_out")
            self.future_skip = keras.layers.Dense(self.series_outputs, use_bias=False, dtype="float32",
                                                  name="future_skip")
        if len(self.quantiles) > 1:
            self.spread = keras.layers.Dense(horizon * self.series_outputs * (len(self.quantiles) - 1),
                                             dtype="float32", name="quantile_spread")
        if channel_embedding:
            self.channel_vectors = self.add_weight(shape=(n_features, channel_embedding),
                                                   initializer="normal", name="channel_embedding")
        if instance_norm:
            # RevIN's learnable per-channel affine transform.
            self.affine_weight = self.add_weight(shape=(n_features,), initializer="ones", name="revin_weight")
            self.affine_bias = self.add_weight(shape=(n_features,), initializer="zeros", name="revin_bias")

    def build(self, history_shape, future_shape=None, future_covariates_shape=None):
        steps = self.lookback // self.patch_len
        width = self.patch_len * (1 if self.channel_independent else self.n_features)
        if self.embed is not None:
            self.embed.build((None, steps, width))
            width = self.d_model
        self.encoder.build((None, steps, width))
        encoded = self.rnn.get("units", 64) * (2 if self.rnn.get("bidirectional") else 1)
        if self.kind == "direct":
            self.head.build((None, encoded + self.channel_embedding))
        else:
            for layer in self.bridge:
                layer.build((None, encoded))
            self.decoder.build((None, self.horizon, self.series_outputs))
            self.head.build((None, self.rnn.get("units", 64)))
        if self.linear_skip:
            self.skip.build((None, self.n_features, self.lookback))
        if self.n_known:
            self.future_hidden.build((None, self.horizon, encoded + self.n_known))
            self.future_out.build((None, self.horizon, self.rnn.get("units", 64)))
            self.future_skip.build((None, self.horizon, self.n_known))
        if len(self.quantiles) > 1:
            self.spread.build((None, encoded))
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

    def _linear_forecast(self, x):
        """The linear skip ``[B', H, outputs]``: one map lookback -> horizon shared by every channel."""
        skip = self.skip(ops.transpose(x, (0, 2, 1)))  # [B, F, H]
        if self.channel_independent:
            return ops.reshape(skip, (-1, self.horizon, 1))  # rows (batch, channel), channel fastest
        return ops.transpose(ops.take(skip, self.target_indices, axis=1), (0, 2, 1))

    def _known_effect(self, encoded, known, mean, std):
        """The known-future inputs' additive effect on every horizon step ``[B', H, outputs]``."""
        if self.instance_norm and self.future_covariate_indices:
            idx = self.future_covariate_indices
            columns = (known[..., :len(idx)] - ops.take(mean, idx, axis=2)) / ops.take(std, idx, axis=2)
            known = ops.concatenate([columns, known[..., len(idx):]], axis=-1)
        if self.channel_independent:
            known = ops.repeat(known, self.n_features, axis=0)  # rows are (batch, channel), channel fastest
        steps = ops.repeat(encoded[:, None, :], self.horizon, axis=1)
        hidden = self.future_hidden(ops.concatenate([steps, known], axis=-1))
        return self.future_out(hidden) + self.future_skip(known)

    def _with_quantiles(self, point, encoded, std, channels):
        """``point [B, H, T]`` -> ``[B, H, T, Q]``: non-negative gaps accumulated outward from the point level."""
        n_q = len(self.quantiles)
        if n_q == 1:
            return point[..., None]
        gaps = ops.softplus(ops.reshape(self.spread(encoded), (-1, self.horizon, self.series_outputs, n_q - 1)))
        if self.channel_independent:
            gaps = ops.transpose(ops.reshape(gaps, (-1, self.n_features, self.horizon, n_q - 1)), (0, 2, 1, 3))
        if self.instance_norm:
            gaps = gaps * ops.take(std, channels, axis=2)[..., None]
        if self.channel_independent:
            gaps = ops.take(gaps, self.target_indices, axis=2)
        mid = point_index(self.quantiles)
        below = point[..., None] - ops.cumsum(gaps[..., :mid], axis=-1)  # levels mid-1, mid-2, ..., 0
        above = point[..., None] + ops.cumsum(gaps[..., mid:], axis=-1)  # levels mid+1, ..., Q-1
        return ops.concatenate([ops.flip(below, axis=-1), point[..., None], above], axis=-1)

    # -- forward ------------------------------------------------------------------------
    def call(self, history, future=None, future_covariates=None, training=None):
        if self.n_known and future_covariates is None:
            raise ValueError("this forecaster takes known-future inputs: pass future_covariates "
                             f"[batch, {self.horizon}, {self.n_known}]")
        x = history
        mean = std = None
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
        encoded = ops.cast(encoded, self.compute_dtype)  # from bfloat16 in a mixed_bfloat16 model
        if self.kind == "direct":
            head_input = encoded
            if self.channel_embedding:  # rows are (batch, channel), channel fastest
                channels_of_rows = ops.tile(self.channel_vectors, (ops.shape(history)[0], 1))
                head_input = ops.concatenate([encoded, channels_of_rows], axis=-1)
            y = ops.reshape(self.head(head_input), (-1, self.horizon, self.series_outputs))
        else:
            last = x[:, -1, :]
            if self.channel_independent:
                first = ops.reshape(last, (-1, 1))
                if future is not None:  # teacher forcing per channel: targets must cover all channels
                    future = ops.reshape(ops.transpose(future, (0, 2, 1)), (-1, self.horizon, 1))
            else:
                first = ops.take(last, self.target_indices, axis=1)
            y = self._decode(encoded, first, future, training)
        if self.linear_skip:
            y = y + self._linear_forecast(x)
        if self.n_known:
            y = y + self._known_effect(encoded, future_covariates, mean, std)
        y = self._from_series(y)
        if self.instance_norm:
            w = ops.take(self.affine_weight, channels)
            b = ops.take(self.affine_bias, channels)
            y = (y - b) / (w + 1e-10) * ops.take(std, channels, axis=2) + ops.take(mean, channels, axis=2)
        if self.channel_independent:
            y = ops.take(y, self.target_indices, axis=2)
        if self.quantiles:
            y = self._with_quantiles(y, encoded, std, channels)
        return y

    def future_channels(self) -> list[int]:
        """Feature indices the teacher-forcing ``future`` input must contain."""
        return list(range(self.n_features)) if self.channel_independent else self.target_indices

    def get_config(self):
        config = super().get_config()
        config.update(lookback=self.lookback, horizon=self.horizon, n_features=self.n_features,
                      target_indices=self.target_indices, kind=self.kind, rnn=self.rnn,
                      channel_independent=self.channel_independent, patch_len=self.patch_len,
                      d_model=self.d_model, instance_norm=self.instance_norm, head_dropout=self.head_dropout,
                      linear_skip=self.linear_skip, channel_embedding=self.channel_embedding,
                      quantiles=self.quantiles, future_covariate_indices=self.future_covariate_indices,
                      n_calendar=self.n_calendar)
        return config


def point_index(quantiles) -> int:
    """Position of the level used as the point forecast: the one nearest 0.5 (the first on a tie)."""
    return min(range(len(quantiles)), key=lambda i: abs(quantiles[i] - 0.5))


@keras.saving.register_keras_serializable(package="rnnsuite")
class PinballLoss(keras.losses.Loss):
    """Mean pinball (quantile) loss of ``y_pred [..., Q]`` against ``y_true [...]`` at ``quantiles``."""

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true, y_pred):
        error = ops.cast(y_true, y_pred.dtype)[..., None] - y_pred
        q = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        return ops.maximum(q * error, (q - 1.0) * error)

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}


def build_forecaster(config, state: dict) -> keras.Model:
    """The Keras model ``fit`` trains: scaled ``history`` (plus ``future`` targets for seq2seq's teacher
    forcing, plus ``future_covariates`` with known-future inputs) in, the scaled forecast out; the layer
    is named ``forecaster`` for the export and predict code."""
    d, m = config.data, config.model
    features = state["features"]
    future_columns, calendar = known_future(state)
    layer = RecurrentForecaster(
        lookback=d.lookback, horizon=d.horizon, n_features=len(features),
        target_indices=[features.index(t) for t in state["targets"]], kind=m.kind,
        # a training batch's rows: channel independence makes a row of each series (`stock_is_faster`)
        rnn={**m.rnn.block_kwargs(),
             "rows": config.train.batch_size * (len(features) if m.channel_independent else 1)},
        channel_independent=m.channel_independent, patch_len=m.patch_len, d_model=m.d_model,
        instance_norm=m.instance_norm, head_dropout=m.head_dropout, linear_skip=m.linear_skip,
        channel_embedding=m.channel_embedding, quantiles=m.quantiles,
        future_covariate_indices=[features.index(c) for c in future_columns], n_calendar=len(calendar),
        dtype="float32", name="forecaster")  # float32 whatever train.precision: see RecurrentForecaster
    history = keras.Input((d.lookback, len(features)), name="history")
    inputs = {"history": history}
    kwargs = {}
    if m.kind == "seq2seq":
        inputs["future"] = kwargs["future"] = keras.Input((d.horizon, len(layer.future_channels())),
                                                          name="future")
    if layer.n_known:
        inputs["future_covariates"] = kwargs["future_covariates"] = keras.Input((d.horizon, layer.n_known),
                                                                                name="future_covariates")
    return keras.Model(inputs, layer(history, **kwargs), name="forecaster_model")


assert set(DECODER_CELLS) == set(CELLS)
