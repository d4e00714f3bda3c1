"""Time-series forecasting: a recurrent network forecasts ``horizon`` steps from ``lookback`` steps.

    python -m tasks.forecasting train --config configs/forecasting_etth1.yaml

Data is a CSV with a time column, target columns and optional covariates. The
split is chronological, the scaler is fitted on the training rows only, and the
exported SavedModel takes raw history in original units and returns the
forecast in original units.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from common import plots
from common.config import BaseDataConfig, option, section
from common.data import datasets
from common.data.text import read_text
from common.errors import ConfigError, DataError
from common.io import atomic_path
from common.layers.recurrent import RNNConfig
from common.metrics.forecasting import forecast_metrics, mase_scale
from common.task import Demo, Prepared, Signature, Task
from tasks.forecasting import demo_data
from tasks.forecasting.data import (
    count_windows,
    read_series,
    split_bounds,
    window_arrays,
    window_dataset,
)
from tasks.forecasting.model import RecurrentForecaster


@dataclass
class ForecastingDataConfig(BaseDataConfig):
    time_column: str = option("date", "Column with the timestamps.")
    target_columns: list[str] = option([], "Columns to forecast (empty: every column except the time "
                                       "column and the covariates).")
    covariate_columns: list[str] = option([], "Extra input columns that are not forecast.")
    split: str = option("ratio", "How data.path is split chronologically.", choices=["ratio", "rows", "dates"])
    split_ratios: list[float] = option([0.7, 0.1, 0.2], "Train/val/test fractions (split: ratio).",
                                       min=0.0, max=1.0)
    split_rows: list[int] = option([], "Train/val/test row counts from the start (split: rows).", min=1)
    split_dates: list[str] = option([], "First timestamp of val and of test (split: dates).")
    lookback: int = option(96, "Input window length (time steps).", min=1)
    horizon: int = option(24, "Forecast length (time steps).", min=1)
    stride: int = option(1, "Step between training windows (val/test always use every window).", min=1)
    seasonal_period: int = option(24, "Season length for the seasonal-naive baseline and MASE.", min=1)
    fill: str = option("error", "Gaps and NaN: stop with an error, forward-fill, or interpolate in time.",
                       choices=["error", "ffill", "interpolate"])
    frequency: str | None = option(None, "Expected time step as a pandas offset (e.g. 1h, 15min); "
                                   "null: the most common step in the file.")
    sort: bool = option(False, "Sort rows by time instead of stopping on unsorted timestamps.")
    encoding: str = option("utf-8", "Text encoding of the CSV files.")

    def validate(self):
        if self.split == "ratio" and (len(self.split_ratios) != 3 or sum(self.split_ratios) > 1 + 1e-9):
            raise ConfigError("config key 'data.split_ratios': give three fractions (train, val, test) "
                              f"that sum to at most 1, got {self.split_ratios}")
        if self.split == "rows" and len(self.split_rows) != 3:
            raise ConfigError("config key 'data.split_rows': give three row counts (train, val, test), "
                              f"got {self.split_rows}")
        if self.split == "dates" and len(self.split_dates) != 2:
            raise ConfigError("config key 'data.split_dates': give two dates (val start, test start), "
                              f"got {self.split_dates}")
        overlap = set(self.target_columns) & set(self.covariate_columns)
        if overlap:
            raise ConfigError(f"config keys 'data.target_columns' and 'data.covariate_columns' share "
                              f"{sorted(overlap)}; a column is either forecast or a covariate")


@dataclass
class ForecastingModelConfig:
    kind: str = option("direct", "direct: one dense head emits every horizon step; seq2seq: an "
                       "autoregressive decoder trained with teacher forcing.", choices=["direct", "seq2seq"])
    rnn: RNNConfig = section(RNNConfig, "Recurrent encoder.")
    channel_independent: bool = option(True, "Forecast every variable as its own series with one shared "
                                       "network (PatchTST/SegRNN style).")
    patch_len: int = option(1, "Feed the RNN segments of this many steps (SegRNN); must divide lookback.",
                            min=1)
    d_model: int = option(0, "Width of the segment embedding (0: feed raw segments).", min=0)
    instance_norm: bool = option(True, "Reversible instance normalization (RevIN) of every window.")
    head_dropout: float = option(0.0, "Dropout before the output head.", min=0.0, max=0.95)
    loss: str = option("mse", "Training loss on the standardized scale (SegRNN trains with mae).",
                       choices=["mse", "mae", "huber"])


class ForecastingTask(Task):
    name = "forecasting"
    data_config = ForecastingDataConfig
    model_config = ForecastingModelConfig
    default_monitor = "val_loss"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = "Multi-horizon time-series forecasting with a recurrent encoder."
    predict_input_help = ("CSV with the time column and the trained target and covariate columns, at least "
                          "data.lookback rows; the forecast covers the data.horizon steps after its last row.")

    # ---- data -------------------------------------------------------------------------
    def _columns(self, config, path) -> tuple[list[str], list[str]]:
        data = config.data
        if data.target_columns:
            return list(data.target_columns), list(data.covariate_columns)
        header = pd.read_csv(io_head(path, data.encoding), nrows=0).columns
        targets = [c.strip() for c in header if c.strip() not in {data.time_column, *data.covariate_columns}]
        return targets, list(data.covariate_columns)

    def _read(self, config, path, targets, covariates):
        d = config.data
        return read_series(path, d.time_column, targets + covariates, d.encoding, d.fill, d.frequency, d.sort)

    def _load_splits(self, config):
        d = config.data
        if d.path is not None:
            path = datasets.resolve(d.path)
            targets, covariates = self._columns(config, path)
            frame = self._read(config, path, targets, covariates)
            bounds = split_bounds(len(frame), d.split, d.split_ratios, d.split_rows, d.split_dates,
                                  frame.index, d.lookback, path)
            parts = {name: frame.iloc[a:b] for name, (a, b) in bounds.items()}
            sources = {name: path for name in parts}
        else:
            sources = {name: datasets.resolve(getattr(d, name)) for name in ("train", "val", "test")}
            targets, covariates = self._columns(config, sources["train"])
            parts = {name: self._read(config, p, targets, covariates) for name, p in sources.items()}
        for name, part in parts.items():
            windows = count_windows(len(part), d.lookback, d.horizon)
            if windows < 1:
                raise DataError(f"{sources[name]}: the {name} split has {len(part)} rows, fewer than "
                                f"lookback + horizon = {d.lookback + d.horizon}; use more data, a smaller "
                                "data.lookback/data.horizon or other split sizes")
        return parts, targets, covariates

    def prepare(self, config, state=None) -> Prepared:
        d = config.data
        if config.model.patch_len > 1 and d.lookback % config.model.patch_len:
            raise ConfigError(f"config key 'model.patch_len': {config.model.patch_len} must divide "
                              f"data.lookback ({d.lookback})")
        parts, targets, covariates = self._load_splits(config)
        features = targets + covariates
        if state is None:
            scaler = StandardScaler().fit(parts["train"][features].to_numpy())
            scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
            state = {"features": features, "targets": targets, "mean": scaler.mean_.tolist(),
                     "scale": scale.tolist(), "freq": parts["train"].attrs.get("freq"),
                     "mase_scale": mase_scale(parts["train"][targets].to_numpy(), d.seasonal_period).tolist()}
        if state["features"] != features:
            raise DataError(f"the data's columns {features} differ from the trained model's {state['features']}")
        mean, scale = np.array(state["mean"]), np.array(state["scale"])
        scaled = {name: ((part[features].to_numpy() - mean) / scale).astype(np.float32)
                  for name, part in parts.items()}
        target_idx = list(range(len(targets)))
        future_idx = self._future_idx(config, features, target_idx)
        bs = config.train.batch_size
        splits = {
            "train": window_dataset(scaled["train"], d.lookback, d.horizon, target_idx, future_idx, d.stride,
                                    bs, shuffle=True, seed=config.seed),
            "val": window_dataset(scaled["val"], d.lookback, d.horizon, target_idx, future_idx, 1, bs),
            "test": window_dataset(scaled["test"], d.lookback, d.horizon, target_idx, future_idx, 1, bs),
        }
        info = {"targets": ", ".join(targets), "covariates": ", ".join(covariates) or "none",
                "rows (train/val/test)": " / ".join(str(len(parts[s])) for s in ("train", "val", "test")),
                "windows (train/val/test)": " / ".join(
                    str(count_windows(len(parts[s]), d.lookback, d.horizon, d.stride if s == "train" else 1))
                    for s in ("train", "val", "test")),
                "lookback / horizon": f"{d.lookback} / {d.horizon}", "time step": state.get("freq")}
        return Prepared(train=splits["train"], val=splits["val"], test=splits["test"], state=state, info=info,
                        extra={"scaled": scaled, "frames": parts})

    def _future_idx(self, config, features, target_idx):
        if config.model.kind != "seq2seq":
            return None
        return list(range(len(features))) if config.model.channel_independent else target_idx

    # ---- model ------------------------------------------------------------------------
    def build_model(self, config, prepared: Prepared):
        d, m = config.data, config.model
        features = prepared.state["features"]
        target_idx = [features.index(t) for t in prepared.state["targets"]]
        layer = RecurrentForecaster(
            lookback=d.lookback, horizon=d.horizon, n_features=len(features), target_indices=target_idx,
            kind=m.kind, rnn=m.rnn.block_kwargs(), channel_independent=m.channel_independent,
            patch_len=m.patch_len, d_model=m.d_model, instance_norm=m.instance_norm,
            head_dropout=m.head_dropout, name="forecaster")
        history = keras.Input((d.lookback, len(features)), name="history")
        inputs = {"history": history}
        if m.kind == "seq2seq":
            future = keras.Input((d.horizon, len(layer.future_channels())), name="future")
            inputs["future"] = future
            outputs = layer(history, future)
        else:
            outputs = layer(history)
        return keras.Model(inputs, outputs, name="forecaster_model")

    def compile_args(self, config, prepared):
        metrics = ["mae"] if config.model.loss != "mae" else ["mse"]
        return {"loss": config.model.loss, "metrics": metrics}

    # ---- evaluation -------------------------------------------------------------------
    def _windows(self, config, prepared, split):
        d = config.data
        return window_arrays(prepared.extra["scaled"][split], d.lookback, d.horizon,
                             range(len(prepared.state["targets"])))

    def _unscale(self, state, y):
        n = len(state["targets"])
        return y * np.array(state["scale"][:n]) + np.array(state["mean"][:n])

    def predict_scaled(self, model, config, history):
        inputs = {"history": history}
        if config.model.kind == "seq2seq":
            layer = model.get_layer("forecaster")
            inputs["future"] = np.zeros((len(history), config.data.horizon, len(layer.future_channels())),
                                        np.float32)
        return model.predict(inputs, batch_size=max(256, config.train.batch_size), verbose=0)

    def evaluate(self, model, config, prepared, split, run) -> dict:
        history, y_true = self._windows(config, prepared, split)
        y_pred = self.predict_scaled(model, config, history.astype(np.float32))
        state = prepared.state
        metrics = forecast_metrics(self._unscale(state, y_true), self._unscale(state, y_pred), y_true, y_pred,
                                   state["mase_scale"])
        picks = np.linspace(0, len(history) - 1, num=min(3, len(history))).astype(int)
        feats = np.array(state["scale"]) * history[picks] + np.array(state["mean"])
        plots.save_forecasts(feats, self._unscale(state, y_true[picks]), self._unscale(state, y_pred[picks]),
                             run.plots_dir / f"forecasts_{split}.png", state["targets"],
                             title=f"Forecast vs actual ({split}, {state['targets'][0]})")
        return metrics

    def baselines(self, config, prepared, split) -> dict:
        """Naive (last value), seasonal naive and a channel-independent linear model on the window."""
        d, state = config.data, prepared.state
        history, y_true = self._windows(config, prepared, split)
        n_t = len(state["targets"])
        past = history[:, :, :n_t]
        true = self._unscale(state, y_true)

        def score(pred):
            return forecast_metrics(true, self._unscale(state, pred), y_true, pred, state["mase_scale"])

        results = {"naive": score(np.repeat(past[:, -1:, :], d.horizon, axis=1))}
        period = d.seasonal_period
        if period <= d.lookback:
            steps = d.lookback - period + (np.arange(d.horizon) % period)
            results["seasonal_naive"] = score(past[:, steps, :])
        train_x, train_y = self._windows(config, prepared, "train")
        # One linear map lookback -> horizon shared by every target (like DLinear's "Linear").
        x = np.transpose(train_x[:, :, :n_t], (0, 2, 1)).reshape(-1, d.lookback)
        y = np.transpose(train_y, (0, 2, 1)).reshape(-1, d.horizon)
        linear = LinearRegression().fit(x, y)
        test_x = np.transpose(past, (0, 2, 1)).reshape(-1, d.lookback)
        pred = linear.predict(test_x).reshape(len(past), n_t, d.horizon).transpose(0, 2, 1)
        results["linear"] = score(pred)
        return results

    def headline_metrics(self):
        return ["mse", "mae", "mse_original", "mae_original", "rmse_original", "mape", "smape", "mase"]

    # ---- export and predict -----------------------------------------------------------
    def serving_functions(self, model, config, prepared) -> dict:
        state = prepared.state
        n_features, n_t = len(state["features"]), len(state["targets"])
        mean = tf.constant(state["mean"], tf.float32)
        scale = tf.constant(state["scale"], tf.float32)
        future_width = (len(model.get_layer("forecaster").future_channels())
                        if config.model.kind == "seq2seq" else 0)
        horizon = config.data.horizon

        def serve(history):
            inputs = {"history": (history - mean) / scale}
            if future_width:
                inputs["future"] = tf.zeros([tf.shape(history)[0], horizon, future_width])
            scaled = model(inputs, training=False)
            return {"forecast": scaled * scale[:n_t] + mean[:n_t]}

        spec = tf.TensorSpec([None, config.data.lookback, n_features], tf.float32, name="history")
        return {"serving_default": Signature(serve, [spec])}

    def serving_example(self, config, prepared) -> dict:
        history, _ = self._windows(config, prepared, "test")
        raw = history[:4] * np.array(prepared.state["scale"]) + np.array(prepared.state["mean"])
        return {"history": raw.astype(np.float32)}

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        """Forecast the ``horizon`` steps after the end of a CSV holding at least ``lookback`` rows."""
        d = config.data
        targets = state["targets"]
        covariates = state["features"][len(targets):]
        frame = self._read(config, input_path, targets, covariates)
        if len(frame) < d.lookback:
            raise DataError(f"{input_path}: {len(frame)} rows, but the model needs the last {d.lookback} "
                            f"(data.lookback) to forecast")
        history = frame[state["features"]].to_numpy(np.float32)[-d.lookback:][None]
        forecast = serve(history=tf.constant(history))["forecast"].numpy()[0]
        freq = pd.tseries.frequencies.to_offset(state.get("freq") or frame.attrs["freq"])
        times = pd.date_range(frame.index[-1] + freq, periods=d.horizon, freq=freq)
        out = pd.DataFrame(forecast, columns=targets)
        out.insert(0, d.time_column, times)
        with atomic_path(output_path) as tmp:
            out.to_csv(tmp, index=False)
        return {"history rows": len(frame), "forecast steps": d.horizon, "first forecast": str(times[0]),
                "targets": ", ".join(targets)}


def io_head(path, encoding):
    """The file's header line, for listing its columns."""
    return io.StringIO(read_text(path, encoding).split("\n", 1)[0])


TASK = ForecastingTask()
