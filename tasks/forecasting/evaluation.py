"""Forecast metrics in both scales (and of calibrated quantiles), plots of a few test windows, the reference
baselines, and the sentence that says when one of them beats the model."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression

from common import plots
from common.metrics.forecasting import forecast_metrics, mse, quantile_metrics
from common.report import fmt
from tasks.forecasting import calibration
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


def predict_split(model, config, prepared: ForecastingPrepared, split: str):
    """The model's scaled forecast of every stride-1 window of ``split``."""
    history, _ = split_windows(config, prepared, split)
    return predict_scaled(model, config, history.astype(np.float32), split_known(config, prepared, split))


def calibration_shifts(model, config, prepared: ForecastingPrepared, val_pred=None):
    """The conformal shifts of the quantile levels ``[horizon, targets, quantiles]`` (scaled), fitted on
    the validation windows (``val_pred``: the model's forecast of them, when already made); None when
    model.calibration is none or there is no level besides the point forecast."""
    quantiles = config.model.quantiles or []
    if config.model.calibration != "conformal" or len(quantiles) < 2:
        return None
    _, y_true = split_windows(config, prepared, "val")
    if val_pred is None:
        val_pred = predict_split(model, config, prepared, "val")
    return calibration.fit_shifts(y_true, val_pred, quantiles)


def evaluate(model, config, prepared: ForecastingPrepared, split: str, plots_dir) -> dict:
    """Metrics on ``split`` (scaled and original units; probabilistic scores with quantiles, before and
    after the conformal calibration, which on the val split is fitted on the very windows it scores),
    ``baseline_warning`` when a baseline forecasts the validation split better, and a plot of three
    windows spread over the split."""
    history, y_true = split_windows(config, prepared, split)
    y_pred = predict_split(model, config, prepared, split)
    val_pred = y_pred if split == "val" else predict_split(model, config, prepared, "val")
    state, quantiles = prepared.state, config.model.quantiles
    mid = point_index(quantiles) if quantiles else None
    point = y_pred[..., mid] if quantiles else y_pred
    metrics = forecast_metrics(unscale(state, y_true), unscale(state, point), y_true, point,
                               state["mase_scale"])
    band = y_pred
    if quantiles:
        metrics.update(quantile_metrics(unscale(state, y_true), unscale(state, y_pred), y_true, y_pred,
                                        quantiles))
        shifts = calibration_shifts(model, config, prepared, val_pred)
        if shifts is not None:
            band = np.asarray(calibration.apply(y_pred, shifts, quantiles))
            calibrated = quantile_metrics(unscale(state, y_true), unscale(state, band), y_true, band,
                                          quantiles)
            metrics.update({f"{name}_calibrated": calibrated[name]
                            for name in ("mean_wql", "coverage", "interval_width")})
    _, val_true = split_windows(config, prepared, "val")
    warning = baseline_warning(mse(val_true, val_pred[..., mid] if quantiles else val_pred),
                               validation_baselines(config, prepared))
    if warning:
        metrics["baseline_warning"] = warning
    picks = np.linspace(0, len(history) - 1, num=min(3, len(history))).astype(int)
    feats = np.array(state["scale"]) * history[picks] + np.array(state["mean"])
    path, title = plots_dir / f"forecasts_{split}.png", f"Forecast vs actual ({split}, {state['targets'][0]})"
    interval = None
    if quantiles and len(quantiles) > 1:
        shown = unscale(state, band[picks])
        interval = (shown[..., 0], shown[..., -1], quantiles[-1] - quantiles[0])
    plots.save_forecasts(feats, unscale(state, y_true[picks]), unscale(state, point[picks]), path,
                         state["targets"], title=title, interval=interval)
    return metrics


# What each baseline forecasts, for the sentence that says one beats the model.
BASELINE_DESCRIPTIONS = {"naive": "the last value repeated", "seasonal_naive": "the last season repeated",
                         "linear": "one linear map from the lookback"}


def baseline_warning(model_mse: float, baseline_mse: dict[str, float]) -> str | None:
    """One plain sentence with both figures when the best baseline's validation MSE is below the model's,
    else None. MSE on the standardized scale: the benchmark's headline, and defined alike whatever the
    training loss (a quantile model is scored by its point level)."""
    best = min(baseline_mse, key=baseline_mse.get)
    if not baseline_mse[best] < model_mse:
        return None
    return (f"the {best} baseline ({BASELINE_DESCRIPTIONS[best]}) beats the model on the validation split: "
            f"MSE {fmt(baseline_mse[best])} against the model's {fmt(model_mse)} (standardized scale); "
            "improve the model, or use the baseline, before relying on this forecast")


def _baseline_forecasters(config, prepared: ForecastingPrepared) -> dict:
    """name -> function from scaled target histories ``[N, L, T]`` to scaled forecasts ``[N, H, T]``:
    naive (last value), seasonal naive (when the season fits in the lookback) and a linear map
    lookback -> horizon shared by every target (like DLinear's "Linear"), fitted on the training windows."""
    d, n_t = config.data, len(prepared.state["targets"])
    forecasters = {"naive": lambda past: np.repeat(past[:, -1:, :], d.horizon, axis=1)}
    if d.seasonal_period <= d.lookback:
        steps = d.lookback - d.seasonal_period + (np.arange(d.horizon) % d.seasonal_period)
        forecasters["seasonal_naive"] = lambda past: past[:, steps, :]
    train_x, train_y = split_windows(config, prepared, "train")
    x = np.transpose(train_x[:, :, :n_t], (0, 2, 1)).reshape(-1, d.lookback)
    y = np.transpose(train_y, (0, 2, 1)).reshape(-1, d.horizon)
    linear = LinearRegression().fit(x, y)

    def linear_forecast(past):
        flat = np.transpose(past, (0, 2, 1)).reshape(-1, d.lookback)
        return linear.predict(flat).reshape(len(past), past.shape[2], d.horizon).transpose(0, 2, 1)

    forecasters["linear"] = linear_forecast
    return forecasters


def validation_baselines(config, prepared: ForecastingPrepared) -> dict[str, float]:
    """Each baseline's MSE (standardized scale) on every validation window."""
    history, y_true = split_windows(config, prepared, "val")
    past = history[:, :, :len(prepared.state["targets"])]
    forecasters = _baseline_forecasters(config, prepared)
    return {name: mse(y_true, forecast(past)) for name, forecast in forecasters.items()}


def baselines(config, prepared: ForecastingPrepared, split: str) -> dict:
    """The baselines' scores on ``split``. With ``model.quantiles`` each also gets quantiles: those of its
    errors on the training windows, per horizon step and target (empirical residual quantiles, the
    cheapest honest interval a point forecast has), so the model's intervals have references."""
    state, quantiles = prepared.state, config.model.quantiles
    n_t = len(state["targets"])
    history, y_true = split_windows(config, prepared, split)
    true = unscale(state, y_true)
    train_x, train_y = split_windows(config, prepared, "train")
    results = {}
    for name, forecast in _baseline_forecasters(config, prepared).items():
        pred = forecast(history[:, :, :n_t])
        results[name] = forecast_metrics(true, unscale(state, pred), y_true, pred, state["mase_scale"])
        if quantiles:
            errors = train_y - forecast(train_x[:, :, :n_t])  # [N, H, T]
            levels = np.moveaxis(np.quantile(errors, quantiles, axis=0), 0, -1)  # [H, T, Q]
            bands = pred[..., None] + levels[None]
            results[name].update(quantile_metrics(true, unscale(state, bands), y_true, bands, quantiles))
    return results
