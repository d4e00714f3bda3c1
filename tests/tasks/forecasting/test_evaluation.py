"""Forecast metrics against hand-computed values, and the baselines."""
import numpy as np
import pytest

from common.metrics import forecasting as fm
from tasks.forecasting import TASK
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv

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


def test_seasonal_naive_is_exact_on_a_purely_seasonal_series(tmp_path):
    season = [1, 5, 2, 7]  # data.seasonal_period is 4 in config_for
    rows = [f"{row.split(',')[0]},{season[i % 4]},{i}" for i, row in enumerate(hourly(96))]
    config = config_for(write_csv(tmp_path / "s.csv", rows))
    scores = TASK.baselines(config, TASK.prepare(config), "test")
    assert scores["seasonal_naive"]["mae_original"] == pytest.approx(0, abs=1e-9)
    assert scores["naive"]["mae_original"] > 1
