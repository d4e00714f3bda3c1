"""PNG plots for run folders (matplotlib, headless)."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from common.errors import warn  # noqa: E402
from common.io import atomic_path  # noqa: E402


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def read_history(history_csv) -> dict[str, list[float]]:
    """The per-epoch log training writes (an ``epoch`` column first). A damaged one (a folder, bytes that
    are not UTF-8, another header) gives a warning and no curves: the metrics of the run do not depend
    on it, and a plot of garbage columns would replace the run's good one."""
    path = Path(history_csv)
    if not path.exists():
        return {}
    columns: dict[str, list[float]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or reader.fieldnames[0] != "epoch":
                raise ValueError("its header does not start with 'epoch'")
            for row in reader:
                for key, value in row.items():
                    try:
                        columns.setdefault(key, []).append(float(value))
                    except (TypeError, ValueError):
                        pass
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
        warn(f"{path} is damaged ({reason}); the learning curves were not redrawn")
        return {}
    return columns


def save_learning_curves(history_csv, path) -> bool:
    """One panel per metric, train and validation together. Returns False if no history."""
    history = read_history(history_csv)
    names = [k for k in history if k != "epoch" and not k.startswith("val_") and k != "learning_rate"]
    names += [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]
    if not names:
        return False
    epochs = np.arange(1, len(next(iter(history.values()))) + 1)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        if name in history:
            ax.plot(epochs[: len(history[name])], history[name], marker="o", label="train")
        if f"val_{name}" in history:
            ax.plot(epochs[: len(history[f"val_{name}"])], history[f"val_{name}"], marker="o", label="val")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Learning curves")
    _save(fig, path)
    return True


def save_confusion_matrix(matrix, labels, path, title="Confusion matrix"):
    matrix = np.asarray(matrix)
    size = max(3.5, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    limit = matrix.max() / 2 if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if matrix[i, j] > limit else "black")
    ax.set_title(title)
    _save(fig, path)


def save_attention_heatmap(weights, source_tokens, target_tokens, path, title="Attention"):
    """``weights[target_step, source_step]`` as a heatmap with token labels."""
    weights = np.asarray(weights)[: len(target_tokens), : len(source_tokens)]
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(source_tokens) + 2), max(3, 0.4 * len(target_tokens) + 2)))
    ax.imshow(weights, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(source_tokens)), labels=source_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(target_tokens)), labels=target_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title)
    _save(fig, path)


def save_forecasts(history, actual, predicted, path, names, title="Forecast vs actual", interval=None):
    """A few windows: the lookback, the true future and the forecast, first target only. ``interval``:
    ``(lower, upper, level)`` shades the prediction interval of nominal coverage ``level``."""
    n = len(history)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), squeeze=False)
    for i, ax in enumerate(axes[:, 0]):
        past = np.arange(-history[i].shape[0], 0)
        future = np.arange(0, actual[i].shape[0])
        ax.plot(past, history[i][:, 0], color="gray", label=f"history ({names[0]})")
        if interval is not None:
            lower, upper, level = interval
            ax.fill_between(future, lower[i][:, 0], upper[i][:, 0], color="tab:red", alpha=0.2,
                            label=f"{level:.0%} interval")
        ax.plot(future, actual[i][:, 0], color="black", label="actual")
        ax.plot(future, predicted[i][:, 0], color="tab:red", label="forecast")
        ax.axvline(0, color="gray", linestyle=":")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def save_bar(values: dict, path, title, ylabel):
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(values) + 2), 3.4))
    ax.bar(range(len(values)), list(values.values()))
    ax.set_xticks(range(len(values)), labels=list(values), rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _save(fig, path)
