"""Calendar features of timestamps, computed with TensorFlow ops so the exported model derives them itself.

The serving function takes the horizon's timestamps as Unix seconds (``int64``, wall-clock time read
as UTC, as pandas stores naive timestamps) and computes the features in-graph; ``prepare`` and
``predict`` call the same function, so training and serving can never disagree. Each feature is
scaled to [-0.5, 0.5] like Time-Series-Library's ``timeF`` encoding (e.g. hour / 23 - 0.5).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

# name -> the field's largest value counting from 0 (the feature is value / largest - 0.5).
CALENDAR_FEATURES = {
    "minute_of_hour": 59, "hour_of_day": 23, "day_of_week": 6, "day_of_month": 30, "day_of_year": 365,
    "month_of_year": 11,
}


def _civil(days):
    """(year, month 1-12, day 1-31) of days since 1970-01-01 (H. Hinnant's ``civil_from_days``)."""
    z = days + 719468
    era = tf.math.floordiv(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = tf.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + tf.cast(month <= 2, days.dtype)
    return year, month, day


def _days_before_year(year):
    """Days from 1970-01-01 to January 1st of ``year`` (``days_from_civil(year, 1, 1)``)."""
    y = year - 1  # January counts as month 13 of the previous year
    era = tf.math.floordiv(y, 400)
    yoe = y - era * 400
    doe = yoe * 365 + yoe // 4 - yoe // 100 + 306
    return era * 146097 + doe - 719468


def calendar_features(seconds, names) -> tf.Tensor:
    """``seconds`` (any shape, int64 Unix seconds) -> float32 features ``[..., len(names)]``."""
    seconds = tf.cast(seconds, tf.int64)
    days = tf.math.floordiv(seconds, 86400)
    year, month, day = _civil(days)
    fields = {
        "minute_of_hour": tf.math.floormod(tf.math.floordiv(seconds, 60), 60),
        "hour_of_day": tf.math.floormod(tf.math.floordiv(seconds, 3600), 24),
        "day_of_week": tf.math.floormod(days + 3, 7),  # 1970-01-01 was a Thursday; Monday is 0
        "day_of_month": day - 1,
        "day_of_year": days - _days_before_year(year),
        "month_of_year": month - 1,
    }
    values = [tf.cast(fields[n], tf.float32) / CALENDAR_FEATURES[n] - 0.5 for n in names]
    return tf.stack(values, axis=-1) if values else tf.zeros(tf.concat([tf.shape(seconds), [0]], 0))


def unix_seconds(times: pd.DatetimeIndex) -> np.ndarray:
    """Naive pandas timestamps -> int64 Unix seconds (the serving input ``future_time``)."""
    return np.asarray((times - pd.Timestamp(0)) // pd.Timedelta(seconds=1), dtype=np.int64)
