"""From the config's CSV files to scaled, windowed splits: the forecasting task's ``prepare``.

The split is chronological and the scaler is fitted on the training rows only;
its mean and scale are the saved ``state``, so evaluate/export/predict reuse them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from common.data import datasets
from common.errors import DataError
from common.metrics.forecasting import mase_scale
from common.task import Prepared
from tasks.forecasting.series import header, read_series
from tasks.forecasting.windows import count_windows, split_bounds, window_dataset

SPLITS = ("train", "val", "test")


@dataclass(kw_only=True)
class ForecastingPrepared(Prepared):
    """``scaled[split]``: that split's rows ``[rows, features]`` (targets first, then covariates),
    standardized with the training scaler; evaluation and the baselines window them with numpy."""

    scaled: dict[str, np.ndarray]


def columns(data_config, path) -> tuple[list[str], list[str]]:
    """Target and covariate columns; no data.target_columns means every column but time and covariates."""
    if data_config.target_columns:
        return list(data_config.target_columns), list(data_config.covariate_columns)
    skip = {data_config.time_column, *data_config.covariate_columns}
    return [c for c in header(path, data_config.encoding) if c not in skip], list(data_config.covariate_columns)


def read(data_config, path, names: list[str]) -> pd.DataFrame:
    """The series of ``names`` in ``path``, read and checked as the data config says."""
    d = data_config
    return read_series(path, d.time_column, names, d.encoding, d.fill, d.frequency, d.sort)


def load_splits(data_config) -> tuple[dict[str, pd.DataFrame], list[str], list[str]]:
    """The train/val/test frames (cut from data.path, or read from three files), targets and covariates."""
    d = data_config
    if d.path is not None:
        path = datasets.resolve(d.path)
        targets, covariates = columns(d, path)
        frame = read(d, path, targets + covariates)
        bounds = split_bounds(len(frame), d.split, d.split_ratios, d.split_rows, d.split_dates,
                              frame.index, d.lookback, path)
        parts = {name: frame.iloc[a:b] for name, (a, b) in bounds.items()}
        sources = {name: path for name in parts}
    else:
        sources = {name: datasets.resolve(getattr(d, name)) for name in SPLITS}
        targets, covariates = columns(d, sources["train"])
        parts = {name: read(d, p, targets + covariates) for name, p in sources.items()}
    for name, part in parts.items():
        if count_windows(len(part), d.lookback, d.horizon) < 1:
            raise DataError(f"{sources[name]}: the {name} split has {len(part)} rows, fewer than "
                            f"lookback + horizon = {d.lookback + d.horizon}; use more data, a smaller "
                            "data.lookback/data.horizon or other split sizes")
    return parts, targets, covariates


def fit_state(config, train: pd.DataFrame, features: list[str], targets: list[str]) -> dict:
    """The scaler (zero-variance columns get scale 1), the time step and MASE's scale, from training rows."""
    scaler = StandardScaler().fit(train[features].to_numpy())
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return {"features": features, "targets": targets, "mean": scaler.mean_.tolist(), "scale": scale.tolist(),
            "freq": train.attrs.get("freq"),
            "mase_scale": mase_scale(train[targets].to_numpy(), config.data.seasonal_period).tolist()}


def future_channels(model_config, n_features: int, n_targets: int) -> list[int] | None:
    """Feature columns fed to the seq2seq decoder for teacher forcing (None for the direct model):
    every channel when channel independent, else the targets (the layer's `future_channels`)."""
    if model_config.kind != "seq2seq":
        return None
    return list(range(n_features if model_config.channel_independent else n_targets))


def prepare(config, state: dict | None = None) -> ForecastingPrepared:
    """Read and split the series, scale it with ``state`` (fitted on train when None) and window it:
    shuffled training windows every data.stride steps, every val/test window in order."""
    d = config.data
    parts, targets, covariates = load_splits(d)
    features = targets + covariates
    if state is None:
        state = fit_state(config, parts["train"], features, targets)
    if state["features"] != features:
        raise DataError(f"the data's columns {features} differ from the trained model's {state['features']}")
    mean, scale = np.array(state["mean"]), np.array(state["scale"])
    scaled = {name: ((part[features].to_numpy() - mean) / scale).astype(np.float32)
              for name, part in parts.items()}
    target_idx = list(range(len(targets)))
    future_idx = future_channels(config.model, len(features), len(targets))
    bs = config.train.batch_size
    splits = {
        "train": window_dataset(scaled["train"], d.lookback, d.horizon, target_idx, future_idx, d.stride,
                                bs, shuffle=True, seed=config.seed),
        "val": window_dataset(scaled["val"], d.lookback, d.horizon, target_idx, future_idx, 1, bs),
        "test": window_dataset(scaled["test"], d.lookback, d.horizon, target_idx, future_idx, 1, bs),
    }
    info = {"targets": ", ".join(targets), "covariates": ", ".join(covariates) or "none",
            "rows (train/val/test)": " / ".join(str(len(parts[s])) for s in SPLITS),
            "windows (train/val/test)": " / ".join(
                str(count_windows(len(parts[s]), d.lookback, d.horizon, d.stride if s == "train" else 1))
                for s in SPLITS),
            "lookback / horizon": f"{d.lookback} / {d.horizon}", "time step": state.get("freq")}
    return ForecastingPrepared(train=splits["train"], val=splits["val"], test=splits["test"], state=state,
                               info=info, scaled=scaled)
