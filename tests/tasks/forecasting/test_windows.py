"""Chronological split bounds and sliding windows."""
import numpy as np

from tasks.forecasting.windows import (
    count_windows,
    horizon_windows,
    split_bounds,
    window_arrays,
    window_dataset,
)


def test_window_count_covers_every_window():
    assert count_windows(10, lookback=4, horizon=2) == 5
    assert count_windows(5, lookback=4, horizon=2) == 0


def test_windows_pair_history_with_the_following_targets():
    series = np.arange(20, dtype=np.float32).reshape(10, 2)
    x, y = window_arrays(series, lookback=3, horizon=2, target_idx=[1])
    assert x.shape == (6, 3, 2) and y.shape == (6, 2, 1)
    np.testing.assert_array_equal(x[0, :, 0], [0, 2, 4])
    np.testing.assert_array_equal(y[0, :, 0], [7, 9])


def test_tf_data_windows_match_numpy_windows_and_keep_the_last_batch():
    series = np.random.default_rng(0).normal(size=(23, 2)).astype(np.float32)
    batches = list(window_dataset(series, 5, 3, [0], batch_size=4).as_numpy_iterator())
    xs = np.concatenate([b[0]["history"] for b in batches])
    ys = np.concatenate([b[1] for b in batches])
    x, y = window_arrays(series, 5, 3, [0])
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)
    assert len(xs) == count_windows(23, 5, 3) == 16


def test_val_and_test_start_one_lookback_early():
    bounds = split_bounds(100, "rows", None, [60, 20, 20], None, None, lookback=10, path="x")
    assert bounds == {"train": (0, 60), "val": (50, 80), "test": (70, 100)}


def test_ratio_split_rounds_train_and_test_down_and_gives_validation_the_rest():
    bounds = split_bounds(1003, "ratio", [0.7, 0.1, 0.2], None, None, None, lookback=10, path="x")
    assert bounds == {"train": (0, 702), "val": (692, 803), "test": (793, 1003)}  # 702 / 101 / 200 rows


def test_ratios_summing_below_one_leave_the_tail_unused():
    bounds = split_bounds(1000, "ratio", [0.5, 0.1, 0.2], None, None, None, lookback=10, path="x")
    assert bounds == {"train": (0, 500), "val": (490, 600), "test": (590, 800)}


def test_known_future_rows_are_the_windows_horizon_steps():
    series = np.arange(10, dtype=np.float32)[:, None]
    known = 100 + series
    windows = horizon_windows(known, lookback=3, horizon=2)
    assert windows.shape == (6, 2, 1)
    np.testing.assert_array_equal(windows[0, :, 0], [103, 104])  # the steps window 0 forecasts
    batches = list(window_dataset(series, 3, 2, [0], batch_size=4, known=known).as_numpy_iterator())
    tf_known = np.concatenate([b[0]["future_covariates"] for b in batches])
    targets = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(tf_known, windows)
    np.testing.assert_array_equal(tf_known - 100, targets)
