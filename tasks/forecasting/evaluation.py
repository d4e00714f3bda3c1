"""Forecast metrics in both scales, plots of a few test windows, and the reference baselines."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from common import plots
from common.metrics.forecasting import forecast_metrics
from tasks.forecasting.data import ForecastingPrepared
from tasks.forecasting.windows import window_arrays


def split_windows(config, prepared: ForecastingPrepared, split: str):
    """Every stride-1 window of ``split``: scaled ``(history [N, L, F], future targets [N, H, T])``."""
    d = config.data
    return window_arrays(prepared.scaled[split], d.lookback, d.horizon, range(len(prepared.state["targets"])))


def unscale(state: dict, y):
    """Scaled targets back to the data's units."""
    n = len(state["targets"])
    return y * np.array(state["scale"][:n]) + np.array(state["mean"][:n])


def predict_scaled(model, config, history):
    """The model's scaled forecast of scaled ``history``; seq2seq gets no teacher forcing (zero ``future``)."""
    inputs = {"history": history}
    if config.model.kind == "seq2seq":
        layer = model.get_layer("forecaster")
        inputs["future"] = np.zeros((len(history), config.data.horizon, len(layer.future_channels())),
                                    np.float32)
    return model.predict(inputs, batch_size=max(256, config.train.batch_size), verbose=0)


def evaluate(model, config, prepared: ForecastingPrepared, split: str, plots_dir) -> dict:
    """Metrics on ``split`` (scaled and original units) and a plot of three windows spread over it."""
    history, y_true = split_windows(config, prepared, split)
    y_pred = predict_scaled(model, config, history.astype(np.float32))
    state = prepared.state
    metrics = forecast_metrics(unscale(state, y_true), unscale(state, y_pred), y_true, y_pred,
                               state["mase_scale"])
    picks = np.linspace(0, len(history) - 1, num=min(3, len(history))).astype(int)
    feats = np.array(state["scale"]) * history[picks] + np.array(state["mean"])
    plots.save_forecasts(feats, unscale(state, y_true[picks]), unscale(state, y_pred[picks]),
                         plots_dir / f"forecasts_{split}.png", state["targets"],
                         title=f"Forecast vs actual ({split}, {state['targets'][0]})")
    return metrics


def baselines(config, prepared: ForecastingPrepared, split: str) -> dict:
    """Naive (last value), seasonal naive and a channel-independent linear model on the window."""
    d, state = config.data, prepared.state
    history, y_true = split_windows(config, prepared, split)
    n_t = len(state["targets"])
    past = history[:, :, :n_t]
    true = unscale(state, y_true)

    def score(pred):
        return forecast_metrics(true, unscale(state, pred), y_true, pred, state["mase_scale"])

    results = {"naive": score(np.repeat(past[:, -1:, :], d.horizon, axis=1))}
    period = d.seasonal_period
    if period <= d.lookback:
        steps = d.lookback - period + (np.arange(d.horizon) % period)
        results["seasonal_naive"] = score(past[:, steps, :])
    train_x, train_y = split_windows(config, prepared, "train")
    # One linear map lookback -> horizon shared by every target (like DLinear's "Linear").
    x = np.transpose(train_x[:, :, :n_t], (0, 2, 1)).reshape(-1, d.lookback)
    y = np.transpose(train_y, (0, 2, 1)).reshape(-1, d.horizon)
    linear = LinearRegression().fit(x, y)
    test_x = np.transpose(past, (0, 2, 1)).reshape(-1, d.lookback)
    pred = linear.predict(test_x).reshape(len(past), n_t, d.horizon).transpose(0, 2, 1)
    results["linear"] = score(pred)
    return results
