"""Stratified splits and folds (moved from tests/tasks/sentiment/test_data.py)."""
import numpy as np
import pytest

from common.data.split import stratified_fold, stratified_split
from common.errors import DataError


def test_stratified_split_keeps_class_shares_and_is_seeded():
    labels = ["a"] * 80 + ["b"] * 20
    train, val, test = stratified_split(labels, 0.1, 0.2, seed=3)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert sum(labels[i] == "b" for i in test) == 4
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again))


def test_stratified_split_of_a_singleton_class_is_a_clear_error():
    with pytest.raises(DataError, match="give every class at least 2 examples"):
        stratified_split(["a"] * 9 + ["b"], 0.0, 0.5, seed=0)


def test_folds_partition_the_data():
    labels = ["a", "b"] * 10
    tests = [stratified_fold(labels, 5, k, seed=0)[1] for k in range(5)]
    assert sorted(np.concatenate(tests).tolist()) == list(range(20))
