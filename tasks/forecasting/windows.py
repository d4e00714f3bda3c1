"""Chronological split bounds and sliding windows over a scaled series (tf.data for Keras, numpy for metrics)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from common.errors import DataError


def split_bounds(n_rows: int, method: str, ratios, rows, dates, index, lookback: int, path) -> dict:
    """Row ranges of train/val/test. Val and test start ``lookback`` rows early so their first
    forecast lands inside the split (the Informer/Autoformer protocol).

    Ratios follow Time-Series-Library: train and test are rounded down and, when the ratios sum
    to 1, validation takes the remainder (1,003 rows at 0.7/0.1/0.2: 702 / 101 / 200)."""
    if method == "ratio":
        n_train, n_test = int(n_rows * ratios[0]), int(n_rows * ratios[2])
        n_val = n_rows - n_train - n_test if abs(sum(ratios) - 1) < 1e-9 else int(n_rows * ratios[1])
    elif method == "rows":
        n_train, n_val, n_test = rows
        if n_train + n_val + n_test > n_rows:
            raise DataError(f"{path}: data.split_rows {rows} needs {sum(rows)} rows but the file has {n_rows}")
    else:
        val_start, test_start = (pd.Timestamp(d) for d in dates)  # checked by the config
        for name, start in (("val", val_start), ("test", test_start)):
            if not index[0] < start <= index[-1]:
                side = "after the last" if start > index[-1] else "at or before the first"
                raise DataError(f"{path}: data.split_dates puts the {name} start at {start}, {side} "
                                f"timestamp of the file ({index[0]} .. {index[-1]}); choose dates inside the "
                                "series")
        n_train = int(index.searchsorted(val_start))
        n_val = int(index.searchsorted(test_start)) - n_train
        n_test = n_rows - n_train - n_val
    train = (0, n_train)
    val = (max(0, n_train - lookback), n_train + n_val)
    test = (max(0, n_train + n_val - lookback), n_train + n_val + n_test)
    return {"train": train, "val": val, "test": test}


def count_windows(n_rows: int, lookback: int, horizon: int, stride: int = 1) -> int:
    return max(0, (n_rows - lookback - horizon) // stride + 1)


def window_dataset(series: np.ndarray, lookback: int, horizon: int, target_idx, future_idx=None, stride=1,
                   batch_size=64, shuffle=False, seed=0, known: np.ndarray | None = None) -> tf.data.Dataset:
    """Sliding windows ``({"history": x[t:t+L], "future": ...}, y[t+L:t+L+H, targets])`` with tf.data.

    ``known`` (rows aligned with ``series``): known-future inputs; each window gets the horizon's
    rows ``known[t+L:t+L+H]`` as ``future_covariates``.

    The series is stored once; windows are sliced by index, so memory stays
    linear in the series length. Every window is kept (no dropped last batch).
    """
    n = count_windows(len(series), lookback, horizon, stride)
    data = tf.constant(series, dtype=tf.float32)
    targets = tf.constant(list(target_idx), dtype=tf.int32)
    future = tf.constant(list(future_idx), dtype=tf.int32) if future_idx is not None else None
    ahead_known = tf.constant(known, dtype=tf.float32) if known is not None else None

    def window(i):
        start = i * stride
        inputs = {"history": data[start:start + lookback]}
        ahead = data[start + lookback:start + lookback + horizon]
        if future is not None:
            inputs["future"] = tf.gather(ahead, future, axis=1)
        if ahead_known is not None:
            inputs["future_covariates"] = ahead_known[start + lookback:start + lookback + horizon]
        return inputs, tf.gather(ahead, targets, axis=1)

    ds = tf.data.Dataset.range(n)
    if shuffle:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.map(window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size).prefetch(
        tf.data.AUTOTUNE)


def window_arrays(series: np.ndarray, lookback: int, horizon: int, target_idx):
    """All stride-1 windows as numpy arrays ``(history [N, L, F], future targets [N, H, T])``."""
    n = count_windows(len(series), lookback, horizon)
    view = np.lib.stride_tricks.sliding_window_view(series, lookback + horizon, axis=0)[:n]
    view = np.moveaxis(view, -1, 1)  # [N, L+H, F]
    return view[:, :lookback], view[:, lookback:][:, :, list(target_idx)]


def horizon_windows(known: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """The known-future rows of every stride-1 window's horizon: ``[N, H, columns]``."""
    n = count_windows(len(known), lookback, horizon)
    view = np.lib.stride_tricks.sliding_window_view(known[lookback:], horizon, axis=0)[:n]
    return np.moveaxis(view, -1, 1)
