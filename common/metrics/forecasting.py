"""Forecasting errors on arrays shaped ``[windows, horizon, targets]``.

MSE/MAE/RMSE/MAPE come from scikit-learn; sMAPE and MASE are written here
because scikit-learn has no implementation of them.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
)


def _flat(y):
    return np.asarray(y, dtype=np.float64).reshape(-1)


def mse(y_true, y_pred) -> float:
    return float(mean_squared_error(_flat(y_true), _flat(y_pred)))


def mae(y_true, y_pred) -> float:
    return float(mean_absolute_error(_flat(y_true), _flat(y_pred)))


def rmse(y_true, y_pred) -> float:
    return float(np.sqrt(mse(y_true, y_pred)))


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error in percent (scikit-learn guards zeros with a tiny epsilon)."""
    return float(100.0 * mean_absolute_percentage_error(_flat(y_true), _flat(y_pred)))


def smape(y_true, y_pred) -> float:
    """Symmetric MAPE in percent, 0..200; pairs where both values are 0 count as 0 error."""
    t, p = _flat(y_true), _flat(y_pred)
    denom = np.abs(t) + np.abs(p)
    ratio = np.divide(2.0 * np.abs(p - t), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100.0 * ratio.mean())


def mase_scale(train_series, period: int = 1) -> np.ndarray:
    """Per-target in-sample MAE of the (seasonal) naive forecast on the training series ``[time, targets]``."""
    series = np.asarray(train_series, dtype=np.float64)
    period = period if series.shape[0] > period else 1
    scale = np.abs(series[period:] - series[:-period]).mean(axis=0)
    return np.where(scale > 0, scale, 1.0)


def mase(y_true, y_pred, scale) -> float:
    """Mean absolute scaled error: MAE per target divided by that target's naive in-sample MAE."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    per_target = np.abs(t - p).reshape(-1, t.shape[-1]).mean(axis=0) / np.asarray(scale)
    return float(per_target.mean())


def forecast_metrics(y_true, y_pred, y_true_scaled, y_pred_scaled, scale) -> dict:
    """All headline errors: standardized-scale MSE/MAE (the long-horizon benchmark convention)
    and original-scale MSE/MAE/RMSE/MAPE/sMAPE/MASE."""
    return {
        "mse": mse(y_true_scaled, y_pred_scaled),
        "mae": mae(y_true_scaled, y_pred_scaled),
        "mse_original": mse(y_true, y_pred),
        "mae_original": mae(y_true, y_pred),
        "rmse_original": rmse(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "smape": smape(y_true, y_pred),
        "mase": mase(y_true, y_pred, scale),
        "windows": int(np.asarray(y_true).shape[0]),
    }


# ---- probabilistic forecasts: quantiles ``[windows, horizon, targets, quantiles]`` -----------------
def pinball(y_true, y_quantile, q: float) -> float:
    """Mean pinball (quantile) loss of the level-``q`` forecast: ``max(q * e, (q - 1) * e)``, ``e = y - y_q``."""
    error = np.asarray(y_true, dtype=np.float64) - np.asarray(y_quantile, dtype=np.float64)
    return float(np.maximum(q * error, (q - 1) * error).mean())


def coverage(y_true, lower, upper) -> float:
    """Share of true values inside ``[lower, upper]`` (ends included)."""
    t = np.asarray(y_true, dtype=np.float64)
    return float(((t >= np.asarray(lower)) & (t <= np.asarray(upper))).mean())


def interval_width(lower, upper) -> float:
    """Mean width of the interval ``[lower, upper]``."""
    return float((np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)).mean())


def weighted_quantile_loss(y_true, y_quantile, q: float) -> float:
    """GluonTS's ``wQuantileLoss[q]``: ``2 * sum(pinball) / sum(|y|)`` over every value (DeepAR's
    normalized quantile loss, the "ρ-risk")."""
    t = np.asarray(y_true, dtype=np.float64)
    error = t - np.asarray(y_quantile, dtype=np.float64)
    denom = np.abs(t).sum()
    return float(2 * np.maximum(q * error, (q - 1) * error).sum() / denom) if denom > 0 else float("nan")


def quantile_metrics(y_true, y_pred, y_true_scaled, y_pred_scaled, quantiles) -> dict:
    """Probabilistic scores of quantile forecasts (last axis of ``y_pred``, one level per entry of
    ``quantiles``): pinball loss per level on the standardized scale (like MSE/MAE), and in the data's
    units the mean weighted quantile loss (GluonTS ``mean_wQuantileLoss``, the usual CRPS estimate),
    with two or more levels the coverage of the outermost pair, its nominal level and mean width."""
    out = {f"pinball_q{q:g}": pinball(y_true_scaled, y_pred_scaled[..., i], q) for i, q in enumerate(quantiles)}
    out["mean_wql"] = float(np.mean([weighted_quantile_loss(y_true, y_pred[..., i], q)
                                     for i, q in enumerate(quantiles)]))
    if len(quantiles) > 1:
        out["coverage"] = coverage(y_true, y_pred[..., 0], y_pred[..., -1])
        out["coverage_nominal"] = float(quantiles[-1] - quantiles[0])
        out["interval_width"] = interval_width(y_pred[..., 0], y_pred[..., -1])
    return out
