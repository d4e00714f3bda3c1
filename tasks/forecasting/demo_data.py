"""Demo data for the forecasting task: a small synthetic dataset the project generates, and a predict input.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.data import datasets


def make_data(folder: Path, seed: int = 0) -> dict:
    """Hourly load-like series: daily and weekly seasons, a slow trend, noise and a covariate."""
    rng = np.random.default_rng(seed)
    n = 1500
    t = np.arange(n)
    temperature = 15 + 8 * np.sin(2 * np.pi * t / 24 - 1) + rng.normal(0, 0.5, n)
    load = (50 + 0.01 * t + 10 * np.sin(2 * np.pi * t / 24) + 4 * np.sin(2 * np.pi * t / 168)
            + 0.5 * temperature + rng.normal(0, 1, n))
    solar = np.clip(20 * np.sin(2 * np.pi * (t % 24 - 6) / 24), 0, None) + rng.normal(0, 0.3, n)
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="h"),
                          "load": load.round(3), "solar": solar.round(3), "temperature": temperature.round(3)})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "forecasting.csv"
    frame.to_csv(path, index=False)
    return {"data.path": str(path)}


def predict_input(config, folder: Path) -> Path:
    source = datasets.resolve(config.data.path if config.data.path else config.data.test)
    frame = pd.read_csv(source, encoding=config.data.encoding)
    path = folder / "forecasting_history.csv"
    frame.tail(config.data.lookback + 10).to_csv(path, index=False)
    return path
