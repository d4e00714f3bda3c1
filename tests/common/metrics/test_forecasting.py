"""Forecast error metrics against hand-computed values."""
import numpy as np
import pytest

from common.metrics import forecasting as fm

Y = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])
P = np.array([[[2.0], [2.0]], [[1.0], [4.0]]])


def test_mse_mae_rmse():
    assert fm.mse(Y, P) == pytest.approx((1 + 0 + 4 + 0) / 4)
    assert fm.mae(Y, P) == pytest.approx((1 + 0 + 2 + 0) / 4)
    assert fm.rmse(Y, P) == pytest.approx(np.sqrt(1.25))


def test_mape_and_smape():
    assert fm.mape(Y, P) == pytest.approx(100 * (1 / 1 + 0 + 2 / 3 + 0) / 4)
    assert fm.smape(Y, P) == pytest.approx(100 * (2 * 1 / 3 + 0 + 2 * 2 / 4 + 0) / 4)


def test_mase_scales_by_in_sample_naive_error():
    scale = fm.mase_scale(np.array([[1.0], [3.0], [6.0]]), period=1)  # |3-1|, |6-3| -> 2.5
    assert scale.tolist() == [2.5]
    assert fm.mase(Y, P, scale) == pytest.approx(0.75 / 2.5)


# ---- quantile forecasts ------------------------------------------------------------------------
TRUE = np.array([1.0, 2.0, 3.0, 4.0])
LOW, HIGH = np.array([0.0, 2.5, 2.0, 4.0]), np.array([2.0, 3.0, 5.0, 6.0])


def test_pinball_loss_weighs_under_and_over_forecasts_by_the_level():
    # errors y - q: 1, -0.5, 1, 0 -> at level 0.1: 0.1, 0.45, 0.1, 0
    assert fm.pinball(TRUE, LOW, 0.1) == pytest.approx((0.1 + 0.45 + 0.1 + 0) / 4)
    # errors y - q: -1, -1, -2, -2 -> at level 0.9 every one costs 0.1 * |e|
    assert fm.pinball(TRUE, HIGH, 0.9) == pytest.approx(0.1 * (1 + 1 + 2 + 2) / 4)


def test_coverage_counts_values_inside_the_interval_ends_included():
    assert fm.coverage(TRUE, LOW, HIGH) == pytest.approx(3 / 4)  # 2.0 is below [2.5, 3.0]
    assert fm.interval_width(LOW, HIGH) == pytest.approx((2 + 0.5 + 3 + 2) / 4)


def test_weighted_quantile_loss_is_twice_the_summed_pinball_over_the_summed_magnitude():
    assert fm.weighted_quantile_loss(TRUE, LOW, 0.1) == pytest.approx(2 * (0.1 + 0.45 + 0.1) / 10)


def test_quantile_metrics_name_every_level_and_the_outermost_interval():
    pred = np.stack([LOW, (LOW + HIGH) / 2, HIGH], axis=-1)
    out = fm.quantile_metrics(TRUE, pred, TRUE, pred, [0.1, 0.5, 0.9])
    assert set(out) == {"pinball_q0.1", "pinball_q0.5", "pinball_q0.9", "mean_wql", "coverage",
                        "coverage_nominal", "interval_width"}
    assert out["coverage"] == pytest.approx(0.75) and out["coverage_nominal"] == pytest.approx(0.8)
    assert out["mean_wql"] == pytest.approx(np.mean([fm.weighted_quantile_loss(TRUE, pred[..., i], q)
                                                     for i, q in enumerate([0.1, 0.5, 0.9])]))
