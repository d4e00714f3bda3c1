"""The exported serving function (raw inputs in, forecast in original units out) and `predict` on a CSV.

Known-future inputs travel raw too: the values of data.future_covariate_columns for the horizon
(``future_covariates [batch, horizon, columns]`` in the data's units, scaled in-graph) and, with
data.calendar_features, the horizon's timestamps (``future_time [batch, horizon]``, int64 Unix
seconds) from which the graph computes the calendar features itself.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from common.data.text import read_text
from common.errors import DataError
from common.io import atomic_path
from common.task import Signature
from tasks.forecasting import calibration
from tasks.forecasting.calendar import calendar_features, unix_seconds
from tasks.forecasting.data import ForecastingPrepared, known_future, read
from tasks.forecasting.evaluation import (
    calibration_shifts,
    predict_scaled,
    split_known,
    split_windows,
    unscale,
)
from tasks.forecasting.model import point_index


def serving_functions(model, config, state: dict, shifts=None) -> dict:
    """``serving_default``: ``history [batch, lookback, features]`` in the data's units (plus the
    known-future inputs, see the module docstring) -> ``forecast [batch, horizon, targets]``, or
    ``[batch, horizon, targets, quantiles]`` with model.quantiles, calibrated by the conformal
    ``shifts`` when given (`evaluation.calibration_shifts`); the training scaler and the shifts are
    baked in, so the SavedModel needs no project code."""
    n_features, n_t = len(state["features"]), len(state["targets"])
    mean = tf.constant(state["mean"], tf.float32)
    scale = tf.constant(state["scale"], tf.float32)
    future_width = (len(model.get_layer("forecaster").future_channels())
                    if config.model.kind == "seq2seq" else 0)
    horizon = config.data.horizon
    future_columns, calendar = known_future(state)
    future_idx = [state["features"].index(c) for c in future_columns]
    out_scale, out_mean = scale[:n_t], mean[:n_t]
    if config.model.quantiles:
        out_scale, out_mean = out_scale[:, None], out_mean[:, None]

    def serve(history, future_covariates=None, future_time=None):
        inputs = {"history": (history - mean) / scale}
        if future_width:
            inputs["future"] = tf.zeros([tf.shape(history)[0], horizon, future_width])
        known = []
        if future_columns:
            known.append((future_covariates - tf.gather(mean, future_idx)) / tf.gather(scale, future_idx))
        if calendar:
            known.append(calendar_features(future_time, calendar))
        if known:
            inputs["future_covariates"] = tf.concat(known, axis=-1)
        scaled = model(inputs, training=False)
        if shifts is not None:
            scaled = calibration.apply(scaled, shifts, config.model.quantiles)
        return {"forecast": scaled * out_scale + out_mean}

    specs = [tf.TensorSpec([None, config.data.lookback, n_features], tf.float32, name="history")]
    if future_columns:
        specs.append(tf.TensorSpec([None, horizon, len(future_columns)], tf.float32, name="future_covariates"))
    if calendar:
        specs.append(tf.TensorSpec([None, horizon], tf.int64, name="future_time"))
    # The exported function's parameters are exactly the inputs this model takes, in signature order.
    if future_columns and calendar:
        fn = serve
    elif future_columns:
        def fn(history, future_covariates):
            return serve(history, future_covariates=future_covariates)
    elif calendar:
        def fn(history, future_time):
            return serve(history, future_time=future_time)
    else:
        def fn(history):
            return serve(history)
    return {"serving_default": Signature(fn, specs)}


def serving_example(config, prepared: ForecastingPrepared) -> dict:
    """The first four test windows in the data's units (with their horizon's known-future inputs)."""
    d, state = config.data, prepared.state
    history, _ = split_windows(config, prepared, "test")
    example = {"history": (history[:4] * np.array(state["scale"]) + np.array(state["mean"])).astype(np.float32)}
    future_columns, calendar = known_future(state)
    if future_columns:
        idx = [state["features"].index(c) for c in future_columns]
        scaled = split_known(config, prepared, "test")[:4, :, :len(idx)]
        example["future_covariates"] = (scaled * np.array(state["scale"])[idx]
                                        + np.array(state["mean"])[idx]).astype(np.float32)
    if calendar:
        times = prepared.times["test"]
        example["future_time"] = np.stack([times[i + d.lookback:i + d.lookback + d.horizon]
                                           for i in range(len(example["history"]))]).astype(np.int64)
    return example


def reference_outputs(model, config, prepared: ForecastingPrepared) -> dict:
    """The serving example's forecasts as ``evaluate`` computes them: the raw history scaled with the saved
    scaler in numpy, the Keras model, the conformal calibration fitted on the validation windows (when
    on), and `unscale` back to the data's units."""
    example = serving_example(config, prepared)
    state = prepared.state
    history = (example["history"] - np.array(state["mean"])) / np.array(state["scale"])
    known = split_known(config, prepared, "test")
    scaled = predict_scaled(model, config, history.astype(np.float32),
                            None if known is None else known[:len(history)])
    shifts = calibration_shifts(model, config, prepared)
    if shifts is not None:
        scaled = np.asarray(calibration.apply(scaled, shifts, config.model.quantiles))
    return {"serving_default": (example, {"forecast": unscale(state, scaled)})}


def _future_rows(config, state: dict, input_path) -> tuple[int, pd.DataFrame]:
    """How many rows end the file with empty targets (the horizon's rows), and the first
    data.horizon of them with their known-future values, checked."""
    d = config.data
    future_columns, _ = known_future(state)
    text = read_text(Path(input_path), d.encoding)
    raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    needed = [d.time_column, *state["targets"], *future_columns]
    if any(c not in raw.columns for c in needed):
        read(d, input_path, state["features"])  # names the missing column
    blank = (raw[state["targets"]].apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    count = len(blank) - (int(np.flatnonzero(~blank)[-1]) + 1 if (~blank).any() else 0)
    if count < d.horizon:
        raise DataError(f"{input_path}: the model takes known-future covariates ({', '.join(future_columns)}): "
                        f"end the file with data.horizon = {d.horizon} rows holding their timestamps and "
                        f"values, target cells empty (found {count} such rows)")
    rows = raw.iloc[len(raw) - count:].iloc[:d.horizon]
    for column in future_columns:
        values = pd.to_numeric(rows[column].str.strip(), errors="coerce")
        if values.isna().any():
            where = rows[d.time_column].iloc[int(np.argmax(values.isna().to_numpy()))]
            raise DataError(f"{input_path}: known-future column '{column}' is empty or not a number in the "
                            f"horizon row at {where.strip()}; give its known value for every horizon step")
    return count, rows


def _history(config, state: dict, input_path, drop_last: int) -> pd.DataFrame:
    """The file's history rows (all but the last ``drop_last`` data rows), read and checked like training
    data; messages name the user's file and its line numbers."""
    if not drop_last:
        return read(config.data, input_path, state["features"])
    lines = read_text(Path(input_path), config.data.encoding).split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    with tempfile.TemporaryDirectory() as folder:
        part = Path(folder) / Path(input_path).name
        part.write_text("\n".join(lines[:-drop_last]) + "\n", encoding=config.data.encoding)
        try:
            return read(config.data, part, state["features"]).copy()
        except DataError as exc:
            raise DataError(str(exc).replace(str(part), str(input_path))) from None


def predict_file(serve, config, state: dict, input_path, output_path) -> dict:
    """Forecast the ``horizon`` steps after the history in a CSV holding at least ``lookback`` rows (with
    known-future columns, followed by the horizon's rows: their timestamps and values, targets empty)."""
    d = config.data
    targets = state["targets"]
    future_columns, calendar = known_future(state)
    count, rows = _future_rows(config, state, input_path) if future_columns else (0, None)
    frame = _history(config, state, input_path, count)
    if len(frame) < d.lookback:
        raise DataError(f"{input_path}: {len(frame)} history rows, but the model needs the last {d.lookback} "
                        f"(data.lookback) to forecast")
    inputs = {"history": tf.constant(frame[state["features"]].to_numpy(np.float32)[-d.lookback:][None])}
    if rows is not None:
        times = pd.DatetimeIndex(pd.to_datetime(rows[d.time_column].str.strip()))
        if times[0] <= frame.index[-1]:
            raise DataError(f"{input_path}: the first horizon row ({times[0]}) must come after the last history "
                            f"row ({frame.index[-1]})")
        values = rows[future_columns].apply(lambda c: pd.to_numeric(c.str.strip())).to_numpy(np.float32)
        inputs["future_covariates"] = tf.constant(values[None])
    else:
        freq = pd.tseries.frequencies.to_offset(state.get("freq") or frame.attrs["freq"])
        times = pd.date_range(frame.index[-1] + freq, periods=d.horizon, freq=freq)
    if calendar:
        inputs["future_time"] = tf.constant(unix_seconds(times)[None])
    forecast = serve(**inputs)["forecast"].numpy()[0]
    quantiles = config.model.quantiles
    out = pd.DataFrame(forecast[..., point_index(quantiles)] if quantiles else forecast, columns=targets)
    for j, target in enumerate(targets):
        for i, q in enumerate(quantiles or []):
            out[f"{target}_q{q:g}"] = forecast[:, j, i]
    out.insert(0, d.time_column, times)
    with atomic_path(output_path) as tmp:
        out.to_csv(tmp, index=False)
    return {"history rows": len(frame), "forecast steps": d.horizon, "first forecast": str(times[0]),
            "targets": ", ".join(targets)}


def export_formats(config) -> dict:
    """Every forecasting model exports to ONNX and LiteRT (fixed lookback and horizon, batch 1)."""
    return {"onnx": None, "litert": None}


def export_core(model, config, prepared: ForecastingPrepared, fmt: str):
    """The numeric core of ``serving_default``: ``history [batch, lookback, features]`` scaled with the
    saved scaler (and, when the model takes known-future inputs, ``future_covariates [batch, horizon,
    columns + calendar features]``: the scaled known-future columns, then the calendar features of the
    horizon's timestamps) -> ``forecast_scaled`` (calibrated when the export is), which the host unscales
    with the target columns' mean and scale (`common.onnx_client`)."""
    from common.export_formats import Core
    from tasks.forecasting.calendar import CALENDAR_FEATURES

    d, state = config.data, prepared.state
    n_features = len(state["features"])
    future_columns, calendar = known_future(state)
    known_width = len(future_columns) + len(calendar)
    future_width = (len(model.get_layer("forecaster").future_channels())
                    if config.model.kind == "seq2seq" else 0)
    shifts = calibration_shifts(model, config, prepared)

    def core(history, future_covariates=None):
        inputs = {"history": history}
        if future_width:
            inputs["future"] = tf.zeros([tf.shape(history)[0], d.horizon, future_width])
        if known_width:
            inputs["future_covariates"] = future_covariates
        scaled = model(inputs, training=False)
        if shifts is not None:
            scaled = calibration.apply(scaled, shifts, config.model.quantiles)
        return {"forecast_scaled": tf.cast(scaled, tf.float32)}

    specs = [tf.TensorSpec([None, d.lookback, n_features], tf.float32, name="history")]
    fixed = {"history": [1, d.lookback, n_features]}
    history, _ = split_windows(config, prepared, "test")
    example = {"history": history[:4].astype(np.float32)}
    if known_width:
        specs.append(tf.TensorSpec([None, d.horizon, known_width], tf.float32, name="future_covariates"))
        fixed["future_covariates"] = [1, d.horizon, known_width]
        example["future_covariates"] = split_known(config, prepared, "test")[:4].astype(np.float32)
    preprocessing = {
        "features": list(state["features"]), "targets": list(state["targets"]),
        "mean": [float(v) for v in state["mean"]], "scale": [float(v) for v in state["scale"]],
        "lookback": d.lookback, "horizon": d.horizon, "quantiles": list(config.model.quantiles or []),
        "calibrated": shifts is not None, "time_column": d.time_column, "frequency": state.get("freq"),
        "future_covariate_columns": list(future_columns), "calendar_features": list(calendar),
        "calendar_largest": {name: CALENDAR_FEATURES[name] for name in calendar},
        "host": "history: the last `lookback` rows of `features` in the data's units, scaled as (x - mean) / "
                "scale; future_covariates (when listed in inputs): per horizon step the scaled "
                "future_covariate_columns, then each calendar feature of the step's timestamp as value / "
                "largest - 0.5 (minute_of_hour, hour_of_day, day_of_week with Monday 0, day_of_month - 1, "
                "day_of_year - 1, month_of_year - 1); forecast = forecast_scaled * scale + mean of the "
                "targets (the first len(targets) features); with quantiles its last axis holds the levels.",
    }
    return Core(core, specs, ["forecast_scaled"], preprocessing, example, fixed)
