"""Forecast metrics in both scales, plots of a few test windows, and the reference baselines."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from common import plots
from common.metrics.forecasting import forecast_metrics, quantile_metrics
from tasks.forecasting.data import ForecastingPrepared, known_future
from tasks.forecasting.model import point_index
from tasks.forecasting.windows import horizon_windows, window_arrays


def split_windows(config, prepared: ForecastingPrepared, split: str):
    """Every stride-1 window of ``split``: scaled ``(history [N, L, F], future targets [N, H, T])``."""
    d = config.data
    return window_arrays(prepared.scaled[split], d.lookback, d.horizon, range(len(prepared.state["targets"])))


def split_known(config, prepared: ForecastingPrepared, split: str):
    """The known-future inputs of every stride-1 window of ``split`` ``[N, H, K]`` (None without any)."""
    if not any(known_future(prepared.state)):
        return None
    return horizon_windows(prepared.known[split], config.data.lookback, config.data.horizon)


def unscale(state: dict, y):
    """Scaled targets ``[..., T]`` (or quantiles ``[..., T, Q]`` when the model has ``quantiles``) back to
    the data's units."""
    n = len(state["targets"])
    scale, mean = np.array(state["scale"][:n]), np.array(state["mean"][:n])
    if np.ndim(y) == 4:
        return y * scale[:, None] + mean[:, None]
    return y * scale + mean


def predict_scaled(model, config, history, known=None):
    """The model's scaled forecast of scaled ``history``; seq2seq gets no teacher forcing (zero ``future``)."""
    inputs = {"history": history}
    if config.model.kind == "seq2seq":
        layer = model.get_layer("forecaster")
        inputs["future"] = np.zeros((len(history), config.data.horizon, len(layer.future_channels())),
                                    np.float32)
    if known is not None:
        inputs["future_covariates"] = known.astype(np.float32)
    return model.predict(inputs, batch_size=max(256, config.train.batch_size), verbose=0)


def evaluate(model, config, prepared: ForecastingPrepared, split: str, plots_dir) -> dict:
    """Metrics on ``split`` (scaled and original units; probabilistic scores with quantiles) and a plot of
    three windows spread over it."""
    history, y_true = split_windows(config, prepared, split)
    y_pred = predict_scaled(model, config, history.astype(np.float32), split_known(config, prepared, split))
    state, quantiles = prepared.state, config.model.quantiles
    point = y_pred[..., point_index(quantiles)] if quantiles else y_pred
    metrics = forecast_metrics(unscale(state, y_true), unscale(state, point), y_true, point,
                               state["mase_scale"])
    if quantiles:
        metrics.update(quantile_metrics(unscale(state, y_true), unscale(state, y_pred), y_true, y_pred,
                                        quantiles))
    picks = np.linspace(0, len(history) - 1, num=min(3, len(history))).astype(int)
    feats = np.array(state["scale"]) * history[picks] + np.array(state["mean"])
    path, title = plots_dir / f"forecasts_{split}.png", f"Forecast vs actual ({split}, {state['targets'][0]})"
    interval = None
    if quantiles and len(quantiles) > 1:
        band = unscale(state, y_pred[picks])
        interval = (band[..., 0], band[..., -1], quantiles[-1] - quantiles[0])
    plots.save_forecasts(feats, unscale(state, y_true[picks]), unscale(state, point[picks]), path,
                         state["targets"], title=title, interval=interval)
    return metrics


def baselines(config, prepared: ForecastingPrepared, split: str) -> dict:
    """Naive (last value), seasonal naive and a channel-independent linear model on the window. With
    ``model.quantiles`` the naive forecast also gets quantiles: those of its errors on the training
    windows, per horizon step and target, so the model's calibration has a reference."""
    d, state = config.data, prepared.state
    history, y_true = split_windows(config, prepared, split)
    n_t = len(state["targets"])
    past = history[:, :, :n_t]
    true = unscale(state, y_true)

    def score(pred):
        return forecast_metrics(true, unscale(state, pred), y_true, pred, state["mase_scale"])

    naive = np.repeat(past[:, -1:, :], d.horizon, axis=1)
    results = {"naive": score(naive)}
    train_x, train_y = split_windows(config, prepared, "train")
    quantiles = config.model.quantiles
    if quantiles:
        errors = train_y - train_x[:, -1:, :n_t]  # [N, H, T]
        levels = np.moveaxis(np.quantile(errors, quantiles, axis=0), 0, -1)  # [H, T, Q]
        pred = naive[..., None] + levels[None]
        results["naive"].update(quantile_metrics(true, unscale(state, pred), y_true, pred, quantiles))
    period = d.seasonal_period
    if period <= d.lookback:
        steps = d.lookback - period + (np.arange(d.horizon) % period)
        results["seasonal_naive"] = score(past[:, steps, :])
    # One linear map lookback -> horizon shared by every target (like DLinear's "Linear").
    x = np.transpose(train_x[:, :, :n_t], (0, 2, 1)).reshape(-1, d.lookback)
    y = np.transpose(train_y, (0, 2, 1)).reshape(-1, d.horizon)
    linear = LinearRegression().fit(x, y)
    test_x = np.transpose(past, (0, 2, 1)).reshape(-1, d.lookback)
    pred = linear.predict(test_x).reshape(len(past), n_t, d.horizon).transpose(0, 2, 1)
    results["linear"] = score(pred)
    return results
