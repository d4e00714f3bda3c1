"""Carving splits out of one file: seeded, complete, disjoint; stratified where labels matter."""
import numpy as np
import pytest

from common.data.split import carve, seeded_subset, stratified_fold, stratified_split
from common.errors import ConfigError, DataError


def test_stratified_split_keeps_class_shares_and_is_seeded():
    labels = ["a"] * 80 + ["b"] * 20
    train, val, test = stratified_split(labels, 0.1, 0.2, seed=3)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert sum(labels[i] == "b" for i in test) == 4
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    again = stratified_split(labels, 0.1, 0.2, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again))


def test_stratified_split_of_a_singleton_class_names_the_file_and_the_class():
    with pytest.raises(DataError, match=r"^d.csv: cannot make a stratified split: class 'b' has 1 example, "
                                        r"but it needs at least 2"):
        stratified_split(["a"] * 9 + ["b"], 0.0, 0.5, seed=0, source="d.csv")


def test_too_few_examples_for_the_folds_names_the_file_the_class_and_the_fix():
    with pytest.raises(DataError, match=r"^d.csv: cannot make 5 stratified folds .*'b' has 3 examples.*"
                                        r"lower data.folds"):
        stratified_fold(["a"] * 10 + ["b"] * 3, 5, 0, seed=0, source="d.csv")


def test_folds_partition_the_data():
    labels = ["a", "b"] * 10
    tests = [stratified_fold(labels, 5, k, seed=0)[1] for k in range(5)]
    assert sorted(np.concatenate(tests).tolist()) == list(range(20))


def test_carve_is_seeded_and_loses_or_repeats_nothing():
    items = list(range(100))
    splits = carve(items, {}, 0.1, 0.2, seed=7, source="f.txt")
    assert [len(splits[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == items
    assert carve(items, {}, 0.1, 0.2, seed=7, source="f.txt") == splits


def test_carve_takes_a_named_split_as_is_and_carves_nothing_for_it():
    splits = carve(list(range(10)), {"test": ["t"]}, 0.2, 0.5, seed=0, source="f.txt")
    assert splits["test"] == ["t"] and len(splits["val"]) == 2 and len(splits["train"]) == 8


def test_an_empty_carved_split_names_the_file_and_the_fix():
    with pytest.raises(ConfigError, match="the val split of f.txt is empty; give data.val or a larger"):
        carve(list(range(3)), {}, 0.0, 0.3, seed=0, source="f.txt")


def test_seeded_subset_keeps_file_order_and_is_reproducible():
    picked = seeded_subset(100, 10, seed=3)
    assert len(picked) == 10 and list(picked) == sorted(picked)
    assert list(seeded_subset(100, 10, seed=3)) == list(picked)
    assert list(seeded_subset(5, 10, seed=3)) == [0, 1, 2, 3, 4]
