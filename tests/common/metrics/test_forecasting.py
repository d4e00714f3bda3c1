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


def test_forecast_metrics_reports_each_error_on_its_own_scale():
    # three windows, horizon 2, one target; scaled arrays differ from the original ones on purpose
    y = np.array([[[1.0], [2.0]], [[3.0], [4.0]], [[5.0], [6.0]]])
    p = np.array([[[2.0], [2.0]], [[1.0], [4.0]], [[5.0], [8.0]]])  # errors 1, 0, -2, 0, 0, 2
    ys, ps = np.zeros_like(y), np.full_like(y, 0.5)
    out = fm.forecast_metrics(y, p, ys, ps, np.array([2.0]))
    assert out == pytest.approx({
        "mse": 0.25, "mae": 0.5,
        "mse_original": 9 / 6, "mae_original": 5 / 6, "rmse_original": np.sqrt(9 / 6),
        "mape": 100 * (1 + 0 + 2 / 3 + 0 + 0 + 2 / 6) / 6,
        "smape": 100 * (2 / 3 + 0 + 1 + 0 + 0 + 4 / 14) / 6,
        "mase": (5 / 6) / 2.0, "windows": 3})


def test_mase_scales_each_target_by_its_own_naive_error():
    # two targets, horizon 3: target 0 is off by 1 everywhere, target 1 by 4; naive errors 1 and 2
    t = np.zeros((1, 3, 2))
    p = np.stack([np.full(3, 1.0), np.full(3, 4.0)], axis=-1)[None]
    assert fm.mase(t, p, np.array([1.0, 2.0])) == pytest.approx((1 / 1 + 4 / 2) / 2)


def test_mase_scale_is_seasonal_with_period_one_by_default_and_for_short_series():
    series = np.array([[1.0], [5.0], [2.0], [7.0], [4.0]])
    assert fm.mase_scale(series, period=2).tolist() == pytest.approx([(1 + 2 + 2) / 3])
    assert fm.mase_scale(series).tolist() == pytest.approx([(4 + 3 + 5 + 3) / 4])
    # a period as long as the series falls back to the one-step naive forecast
    assert fm.mase_scale(series, period=5).tolist() == pytest.approx([(4 + 3 + 5 + 3) / 4])
    assert fm.mase_scale(series[:2], period=2).tolist() == pytest.approx([4.0])


def test_mase_scale_of_a_flat_series_is_one_and_a_small_one_is_kept():
    assert fm.mase_scale(np.array([[3.0, 0.0], [3.0, 0.5], [3.0, 1.0]])).tolist() == pytest.approx([1.0, 0.5])


def test_smape_counts_a_pair_of_zeros_as_no_error_and_keeps_small_values():
    # pair 1: both zero -> 0; pair 2: 2 * 0.1 / (0.2 + 0.3) = 0.4
    assert fm.smape(np.array([0.0, 0.2]), np.array([0.0, 0.3])) == pytest.approx(100 * 0.4 / 2)


def test_coverage_includes_the_upper_end():
    assert fm.coverage(np.array([1.0, 2.0]), np.array([0.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)


def test_weighted_quantile_loss_is_nan_for_an_all_zero_series_and_kept_for_a_small_one():
    assert np.isnan(fm.weighted_quantile_loss(np.zeros(2), np.ones(2), 0.5))
    # |y| sums to 0.5: 2 * (0.5 * 0.25 + 0.5 * 0.25) / 0.5
    assert fm.weighted_quantile_loss(np.array([0.25, 0.25]), np.zeros(2), 0.5) == pytest.approx(1.0)


def test_quantile_metrics_values_use_the_scaled_arrays_and_the_outermost_levels():
    pred = np.stack([LOW, (LOW + HIGH) / 2, HIGH], axis=-1)
    scaled_true, scaled_pred = TRUE / 10, pred / 10
    out = fm.quantile_metrics(TRUE, pred, scaled_true, scaled_pred, [0.1, 0.5, 0.9])
    for i, q in enumerate([0.1, 0.5, 0.9]):
        assert out[f"pinball_q{q:g}"] == pytest.approx(fm.pinball(scaled_true, scaled_pred[..., i], q))
    assert out["interval_width"] == pytest.approx((2 + 0.5 + 3 + 2) / 4)
    low_middle = fm.quantile_metrics(TRUE, np.stack([LOW, LOW, HIGH], axis=-1), TRUE, pred, [0.1, 0.5, 0.9])
    assert low_middle["coverage"] == pytest.approx(0.75)  # [LOW, HIGH], not [LOW, LOW]
    narrow = fm.quantile_metrics(TRUE, pred[..., :2], TRUE, pred[..., :2], [0.1, 0.5])
    assert narrow["coverage"] == pytest.approx(fm.coverage(TRUE, LOW, (LOW + HIGH) / 2))
    assert narrow["coverage_nominal"] == pytest.approx(0.4)
    assert "coverage" not in fm.quantile_metrics(TRUE, pred[..., :1], TRUE, pred[..., :1], [0.5])
