"""The exported serving function (raw history in, forecast in original units out) and `predict` on a CSV."""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from common.errors import DataError
from common.io import atomic_path
from common.task import Signature
from tasks.forecasting.data import ForecastingPrepared, read
from tasks.forecasting.evaluation import split_windows


def serving_functions(model, config, state: dict) -> dict:
    """``serving_default``: ``history [batch, lookback, features]`` in the data's units -> ``forecast``;
    the training scaler is baked in, so the SavedModel needs no project code."""
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


def serving_example(config, prepared: ForecastingPrepared) -> dict:
    """The first four test windows in the data's units."""
    history, _ = split_windows(config, prepared, "test")
    raw = history[:4] * np.array(prepared.state["scale"]) + np.array(prepared.state["mean"])
    return {"history": raw.astype(np.float32)}


def predict_file(serve, config, state: dict, input_path, output_path) -> dict:
    """Forecast the ``horizon`` steps after the end of a CSV holding at least ``lookback`` rows."""
    d = config.data
    targets = state["targets"]
    frame = read(d, input_path, state["features"])
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
