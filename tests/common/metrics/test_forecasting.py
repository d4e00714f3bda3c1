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
