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
from common.data.checks import check_batch_size
from common.errors import DataError
from common.metrics.forecasting import mase_scale
from common.task import Prepared
from tasks.forecasting.calendar import calendar_features, unix_seconds
from tasks.forecasting.series import header, read_series
from tasks.forecasting.windows import count_windows, split_bounds, window_dataset

SPLITS = ("train", "val", "test")


@dataclass(kw_only=True)
class ForecastingPrepared(Prepared):
    """``scaled[split]``: that split's rows ``[rows, features]`` (targets first, then past covariates,
    then known-future covariates), standardized with the training scaler; ``known[split]``: the
    known-future model inputs of each row ``[rows, future columns + calendar features]`` (scaled
    columns, then calendar values; width 0 without any); ``times[split]``: each row's Unix seconds.
    Evaluation, the baselines and the serving example window them with numpy."""

    scaled: dict[str, np.ndarray]
    known: dict[str, np.ndarray]
    times: dict[str, np.ndarray]


def columns(data_config, path) -> tuple[list[str], list[str]]:
    """Target and covariate columns (past, then known-future); no data.target_columns means every column
    but time and covariates."""
    covariates = list(data_config.covariate_columns) + list(data_config.future_covariate_columns)
    if data_config.target_columns:
        return list(data_config.target_columns), covariates
    skip = {data_config.time_column, *covariates}
    targets = [c for c in header(path, data_config.encoding) if c not in skip]
    if not targets:
        raise DataError(f"{path}:1: every column is the time column or a covariate, so there is nothing to "
                        "forecast; set data.target_columns")
    return targets, covariates


def read(data_config, path, names: list[str]) -> pd.DataFrame:
    """The series of ``names`` in ``path``, read and checked as the data config says."""
    d = data_config
    return read_series(path, d.time_column, names, d.encoding, d.fill, d.frequency, d.sort)


def load_splits(data_config) -> tuple[dict[str, pd.DataFrame], list[str], list[str]]:
    """The train/val/test frames (cut from data.path, or read from three files), targets and covariates."""
    d = data_config
    if d.path is not None:
        files = datasets.resolve_all(d.path)  # shards of one series (a glob or a list), read in order
        path = files[0] if len(files) == 1 else datasets.describe(files)
        targets, covariates = columns(d, files[0])
        frame = read(d, files, targets + covariates)
        bounds = split_bounds(len(frame), d.split, d.split_ratios, d.split_rows, d.split_dates,
                              frame.index, d.lookback, path)
        parts = {name: frame.iloc[a:b] for name, (a, b) in bounds.items()}
        sources = {name: path for name in parts}
    else:
        files = {name: datasets.resolve_all(getattr(d, name)) for name in SPLITS}
        sources = {name: f[0] if len(f) == 1 else datasets.describe(f) for name, f in files.items()}
        targets, covariates = columns(d, files["train"][0])
        parts = {name: read(d, f, targets + covariates) for name, f in files.items()}
    for name, part in parts.items():
        if count_windows(len(part), d.lookback, d.horizon) < 1:
            raise DataError(f"{sources[name]}: the {name} split has {len(part)} rows, fewer than "
                            f"lookback + horizon = {d.lookback + d.horizon}; use more data, a smaller "
                            "data.lookback/data.horizon or other split sizes")
    return parts, targets, covariates


def fit_state(config, train: pd.DataFrame, features: list[str], targets: list[str]) -> dict:
    """The scaler (zero-variance columns get scale 1), the time step and MASE's scale, from training rows;
    the known-future columns and calendar features the model takes (absent: none, as before they existed)."""
    scaler = StandardScaler().fit(train[features].to_numpy())
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    state = {"features": features, "targets": targets, "mean": scaler.mean_.tolist(), "scale": scale.tolist(),
             "freq": train.attrs.get("freq"),
             "mase_scale": mase_scale(train[targets].to_numpy(), config.data.seasonal_period).tolist()}
    if config.data.future_covariate_columns or config.data.calendar_features:
        state.update(future_covariates=list(config.data.future_covariate_columns),
                     calendar=list(config.data.calendar_features))
    return state


def known_future(state: dict) -> tuple[list[str], list[str]]:
    """The known-future columns and calendar features of a trained model's ``state``."""
    return state.get("future_covariates", []), state.get("calendar", [])


def known_inputs(state: dict, scaled: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each row's known-future model inputs: its scaled known-future columns, then its calendar values."""
    future_columns, calendar = known_future(state)
    idx = [state["features"].index(c) for c in future_columns]
    return np.concatenate([scaled[:, idx], calendar_features(times, calendar).numpy()], axis=1).astype(np.float32)


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
    times = {name: unix_seconds(part.index) for name, part in parts.items()}
    known = {name: known_inputs(state, scaled[name], times[name]) for name in SPLITS}
    takes_known = any(known_future(state))
    target_idx = list(range(len(targets)))
    future_idx = future_channels(config.model, len(features), len(targets))
    bs = config.train.batch_size
    check_batch_size(bs, count_windows(len(parts["train"]), d.lookback, d.horizon, d.stride), "windows",
                     d.path or d.train)
    splits = {name: window_dataset(scaled[name], d.lookback, d.horizon, target_idx, future_idx,
                                   d.stride if name == "train" else 1, bs, shuffle=name == "train",
                                   seed=config.seed, known=known[name] if takes_known else None)
              for name in SPLITS}
    info = {"targets": ", ".join(targets), "covariates": ", ".join(covariates) or "none",
            "rows (train/val/test)": " / ".join(str(len(parts[s])) for s in SPLITS),
            "windows (train/val/test)": " / ".join(
                str(count_windows(len(parts[s]), d.lookback, d.horizon, d.stride if s == "train" else 1))
                for s in SPLITS),
            "lookback / horizon": f"{d.lookback} / {d.horizon}", "time step": state.get("freq")}
    if takes_known:
        future_columns, calendar = known_future(state)
        info["known-future inputs"] = ", ".join(future_columns + calendar)
    return ForecastingPrepared(train=splits["train"], val=splits["val"], test=splits["test"], state=state,
                               info=info, scaled=scaled, known=known, times=times)
