"""Split-conformal calibration of quantile forecasts (model.calibration: conformal).

A network trained with the pinball loss fits its quantiles on the training windows, where it
fits best; on new windows its intervals usually cover less than they promise. Conformalized
quantile regression (CQR, Romano, Patterson and Candès, NeurIPS 2019) repairs that after
training with a held-out split: the residuals of each level on the validation windows give the
shift that makes the level hold on new windows exchangeable with them, with a finite-sample
guarantee.

We use CQR's asymmetric form (their Theorem 2), one level at a time. With ``n`` validation
residuals ``y - q_τ`` of level ``τ``, a level above the point level moves by their
``⌈(n+1)τ⌉``-th smallest value and a level below it by their ``⌊(n+1)τ⌋``-th smallest, so
``P(y > q'_τ) <= 1 - τ`` above and ``P(y < q'_τ) <= τ`` below, and the interval between two
levels covers at least their difference (at most ``2 / (n + 1)`` more). Per level rather than
one score per interval because it takes any set of levels, never moves the point forecast, and
widens (or narrows) a skewed interval only on the side that needs it. Per horizon step and
target because errors grow with the step and targets have their own scales (CF-RNN,
Stankevičiūtė et al. 2021, calibrates every step too). Overlapping windows of one series are
not strictly exchangeable, so on real data the guarantee is approximate: the report's test
coverage shows how close it comes.

Written with numpy here: MAPIE's conformal quantile regressor wraps a scikit-learn estimator and
calibrates one output, not a Keras forecaster's ``[windows, horizon, targets, quantiles]``, and
the split-conformal quantile itself is an order statistic.
"""
from __future__ import annotations

import math

import numpy as np
from keras import ops

from common.errors import ConfigError
from tasks.forecasting.model import point_index


def rank(n: int, level: float, above: bool) -> int:
    """The 1-based rank of the order statistic of ``n`` residuals that calibrates ``level`` (a level
    above the point level, or below it); outside 1..n when ``n`` residuals are too few."""
    if above:
        return math.ceil((n + 1) * level - 1e-9)  # the tolerance keeps 10 * 0.9 from rounding up to 10
    return math.floor((n + 1) * level + 1e-9)


def min_windows(quantiles) -> int:
    """The fewest validation windows that calibrate every level of ``quantiles`` but the point level
    (9 for 0.1/0.5/0.9)."""
    mid = point_index(quantiles)
    n = 1
    while not all(1 <= rank(n, q, i > mid) <= n for i, q in enumerate(quantiles) if i != mid):
        n += 1
    return n


def check_windows(model_config, n_windows: int) -> None:
    """Before anything is written: the validation split has enough windows to calibrate on."""
    quantiles = model_config.quantiles or []
    if model_config.calibration != "conformal" or len(quantiles) < 2:
        return
    need = min_windows(quantiles)
    if n_windows < need:
        raise ConfigError(f"config key 'model.calibration': conformal needs at least {need} validation "
                          f"windows to calibrate the levels {quantiles}, but the val split has {n_windows}; "
                          "give it more rows (data.split_ratios, split_rows or split_dates) or set "
                          "model.calibration: none")


def fit_shifts(y_true, y_pred, quantiles) -> np.ndarray:
    """The shift of every level ``[horizon, targets, quantiles]`` (0 at the point level) from the
    validation windows' targets ``y_true [N, H, T]`` and quantile forecasts ``y_pred [N, H, T, Q]``."""
    residuals = np.sort(np.asarray(y_true, np.float64)[..., None] - np.asarray(y_pred, np.float64), axis=0)
    n, mid = len(residuals), point_index(quantiles)
    shifts = np.zeros(residuals.shape[1:], np.float32)
    for i, q in enumerate(quantiles):
        if i != mid:
            shifts[..., i] = residuals[rank(n, q, i > mid) - 1, ..., i]
    return shifts


def apply(y_pred, shifts, quantiles):
    """Quantile forecasts ``[..., H, T, Q]`` moved by ``shifts [H, T, Q]``; levels kept on their side of
    the (unmoved) point level and in increasing order, since levels shifted by different amounts may
    cross. Keras ops, so the export's graph and the numpy evaluation run the same code."""
    mid = point_index(quantiles)
    y_pred = ops.convert_to_tensor(y_pred)
    shifted = y_pred + ops.cast(shifts, y_pred.dtype)
    point = y_pred[..., mid:mid + 1]
    lower = ops.minimum(shifted[..., :mid], point)
    upper = ops.maximum(shifted[..., mid + 1:], point)
    return ops.sort(ops.concatenate([lower, point, upper], axis=-1), axis=-1)
