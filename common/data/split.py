"""Carving train / validation / test splits out of one file, and seeded subsets.

Every text task accepts ``data.path`` (one file the task splits) with optional
``data.val`` / ``data.test`` files that then take the place of the carved
split; these helpers make that split the same way for all of them.
"""
from __future__ import annotations

import numpy as np

from common.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")


def carve(items: list, named: dict, val_fraction: float, test_fraction: float, seed: int,
          source: str) -> dict[str, list]:
    """Split ``items`` by a seeded shuffle: test first, then validation, the rest is training.

    A split given in ``named`` (read from its own file) is taken as is and nothing
    is carved for it. ``source`` names the file in the error for an empty split.
    """
    order = np.random.default_rng(seed).permutation(len(items))
    n_test = 0 if "test" in named else int(round(len(items) * test_fraction))
    n_val = 0 if "val" in named else int(round(len(items) * val_fraction))
    picked = [items[i] for i in order]
    splits = {"test": named.get("test", picked[:n_test]),
              "val": named.get("val", picked[n_test:n_test + n_val]),
              "train": picked[n_test + n_val:]}
    for split in SPLITS:
        if not len(splits[split]):
            raise ConfigError(f"config data: the {split} split of {source} is empty; give data.{split} "
                              f"or a larger data.{split}_fraction")
    return {split: splits[split] for split in SPLITS}


def seeded_subset(n: int, max_examples: int | None, seed: int) -> np.ndarray:
    """Indices of at most ``max_examples`` of ``n`` items, a seeded random choice kept in file order."""
    if max_examples is None or n <= max_examples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_examples, replace=False))


def _too_few(labels, needed: int) -> list[tuple[str, int]]:
    """``(label, count)`` of the classes with fewer than ``needed`` examples, rarest first."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    rare = [(str(v), int(c)) for v, c in zip(values, counts) if c < needed]
    return sorted(rare, key=lambda vc: (vc[1], vc[0]))


def _class_list(classes) -> str:
    return ", ".join(f"{label!r} has {count} example{'s' if count != 1 else ''}" for label, count in classes)


def stratified_split(labels, val_fraction: float, test_fraction: float, seed: int, source: str | None = None):
    """Index arrays (train, val, test) with each split keeping the class proportions.

    Uses scikit-learn's stratified ``train_test_split`` twice; a fraction of 0 gives an empty split.
    ``source`` names the file in error messages.
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    indices = np.arange(len(labels))
    where = f"{source}: " if source else ""
    if val_fraction + test_fraction >= 1.0:
        raise DataError(f"val and test fractions ({val_fraction} + {test_fraction}) leave no training data; "
                        "make them sum to less than 1")
    if val_fraction > 0 or test_fraction > 0:
        rare = _too_few(labels, 2)
        if rare:
            raise DataError(f"{where}cannot make a stratified split: class {_class_list(rare)}, but it "
                            "needs at least 2 of every class (one for training, one held out); add examples, "
                            "remove the class, or give data.val and data.test files")

    def cut(idx, fraction, seed_offset):
        if fraction <= 0:
            return idx, idx[:0]
        try:
            return train_test_split(idx, test_size=fraction, random_state=seed + seed_offset,
                                    stratify=labels[idx])
        except ValueError as exc:
            raise DataError(f"{where}cannot make a stratified split of {len(idx)} examples ({exc}); "
                            "give every class at least 2 examples or use separate val/test files") from None

    rest, test = cut(indices, test_fraction, 0)
    train, val = cut(rest, val_fraction / (1.0 - test_fraction) if test_fraction else val_fraction, 1)
    return np.sort(train), np.sort(val), np.sort(test)


def stratified_fold(labels, folds: int, fold: int, seed: int, source: str | None = None):
    """Index arrays (rest, test) for fold ``fold`` of a stratified ``folds``-fold cross-validation."""
    from sklearn.model_selection import StratifiedKFold

    where = f"{source}: " if source else ""
    if not 0 <= fold < folds:
        raise DataError(f"fold {fold} does not exist; use 0..{folds - 1}")
    labels = np.asarray(labels)
    rare = _too_few(labels, folds)
    if rare:
        raise DataError(f"{where}cannot make {folds} stratified folds (data.folds): class "
                        f"{_class_list(rare)}, but it needs at least {folds} of every class (one per fold); "
                        "add examples or lower data.folds")
    try:
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
                      .split(np.zeros(len(labels)), labels))
    except ValueError as exc:
        raise DataError(f"{where}cannot make {folds} stratified folds: {exc}") from None
    rest, test = splits[fold]
    return np.sort(rest), np.sort(test)
