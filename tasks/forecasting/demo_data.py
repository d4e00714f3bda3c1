"""Demo data for the forecasting task: a small synthetic dataset the project generates, and a predict input.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.data import datasets


def make_data(folder: Path, seed: int = 0) -> dict:
    """Hourly load-like series with what makes real load hard to forecast: weather that drifts from
    day to day (so yesterday is not a copy of today), a weekday/weekend pattern, heating and cooling
    demand that depends on temperature, cloudy days for solar, and autocorrelated noise."""
    rng = np.random.default_rng(seed)
    n = 1500
    t = np.arange(n)
    days = n // 24 + 2
    middays = np.arange(days) * 24 + 12

    def day_to_day(phi, scale):
        """An AR(1) value per day, interpolated to hours: weather that persists a few days."""
        values = np.zeros(days)
        for d in range(1, days):
            values[d] = phi * values[d - 1] + rng.normal(0, scale)
        return np.interp(t, middays, values)

    temperature = 15 + day_to_day(0.8, 2.5) + 6 * np.sin(2 * np.pi * t / 24 - 1) + rng.normal(0, 0.7, n)
    weekend = (t // 24) % 7 >= 5
    profile = 8 * np.sin(2 * np.pi * t / 24) + 3 * np.sin(4 * np.pi * t / 24 + 0.5)
    noise = np.zeros(n)
    shocks = rng.normal(0, 1.5, n)
    for i in range(1, n):
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    load = (50 + 0.005 * t + profile * np.where(weekend, 0.6, 1.0) - 6 * weekend
            + 0.8 * np.abs(temperature - 18) + noise)
    clouds = np.clip(0.5 + day_to_day(0.6, 0.3), 0, 1)
    clear_sky = np.clip(20 * np.sin(2 * np.pi * (t % 24 - 6) / 24), 0, None)
    solar = clear_sky * (1 - 0.7 * clouds) + rng.normal(0, 0.8, n) * (clear_sky > 0)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="h"),
                          "load": load.round(3), "solar": solar.round(3), "temperature": temperature.round(3)})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "forecasting.csv"
    frame.to_csv(path, index=False)
    return {"data.path": str(path)}


def predict_input(config, folder: Path) -> Path:
    source = datasets.resolve_all(config.data.path if config.data.path else config.data.test)[-1]
    frame = pd.read_csv(source, encoding=config.data.encoding)
    path = folder / "forecasting_history.csv"
    frame.tail(config.data.lookback + 10).to_csv(path, index=False)
    return path
