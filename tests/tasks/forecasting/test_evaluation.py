"""The forecasting evaluation and its baselines."""
import pytest

from tasks.forecasting import TASK
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv


def test_seasonal_naive_is_exact_on_a_purely_seasonal_series(tmp_path):
    season = [1, 5, 2, 7]  # data.seasonal_period is 4 in config_for
    rows = [f"{row.split(',')[0]},{season[i % 4]},{i}" for i, row in enumerate(hourly(96))]
    config = config_for(write_csv(tmp_path / "s.csv", rows))
    scores = TASK.baselines(config, TASK.prepare(config), "test")
    assert scores["seasonal_naive"]["mae_original"] == pytest.approx(0, abs=1e-9)
    assert scores["naive"]["mae_original"] > 1
