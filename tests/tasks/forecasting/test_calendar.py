"""Calendar features computed with TensorFlow ops agree with pandas' calendar."""
import numpy as np
import pandas as pd

from tasks.forecasting.calendar import CALENDAR_FEATURES, calendar_features, unix_seconds


def test_in_graph_calendar_matches_pandas_across_centuries_and_leap_years():
    times = pd.date_range("1899-12-25", "2101-03-05", freq="37h13min")
    got = calendar_features(unix_seconds(times), list(CALENDAR_FEATURES)).numpy()
    expected = np.stack([times.minute / 59, times.hour / 23, times.dayofweek / 6, (times.day - 1) / 30,
                         (times.dayofyear - 1) / 365, (times.month - 1) / 11], axis=-1) - 0.5
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_features_come_in_the_requested_order_and_shape():
    seconds = unix_seconds(pd.DatetimeIndex(["2024-12-31 23:00", "2025-01-01 00:00"])).reshape(1, 2)
    got = calendar_features(seconds, ["day_of_year", "hour_of_day"]).numpy()
    assert got.shape == (1, 2, 2)
    np.testing.assert_allclose(got[0], [[365 / 365 - 0.5, 0.5], [-0.5, -0.5]], atol=1e-6)
