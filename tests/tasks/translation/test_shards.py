"""Sentence pairs in many files (a glob or a list, gzip or not) read as the one file they were cut from."""
import gzip

import pytest

from common.errors import DataError
from tasks.translation import data
from tasks.translation.data import load_splits
from tests.tasks.translation.helpers import config_for, write

ROWS = [f"the dog {i} runs .\tder hund {i} rennt .\n" for i in range(60)]


def test_gzip_tsv_shards_give_the_splits_and_vocabularies_of_the_single_file(tmp_path):
    whole = config_for(**{"data.path": write(tmp_path / "all.tsv", "".join(ROWS)), "seed": 3})
    (tmp_path / "shards").mkdir()
    write(tmp_path / "shards" / "p-0.tsv", "".join(ROWS[:25]))
    (tmp_path / "shards" / "p-1.tsv.gz").write_bytes(gzip.compress("".join(ROWS[25:]).encode()))
    sharded = config_for(**{"data.path": str(tmp_path / "shards" / "p-*"), "seed": 3})
    expected, got = load_splits(whole)[0], load_splits(sharded)[0]
    for split in ("train", "val", "test"):
        assert [row[:2] for row in got[split].rows()] == [row[:2] for row in expected[split].rows()] != []
    assert data.prepare(sharded).state == data.prepare(whole).state


def test_aligned_shards_pair_up_in_order_and_a_short_one_is_named(tmp_path):
    for n, (de, en) in enumerate([("a\nb\n", "A\nB\n"), ("c\n", "C\nD\n")]):
        write(tmp_path / f"train-{n}.de", de)
        write(tmp_path / f"train-{n}.en", en)
    config = config_for(**{"data.path": str(tmp_path / "train-*.{lang}"), "data.format": "auto"})
    with pytest.raises(DataError, match=r"train-1.de has 1 lines but .*train-1.en has 2"):
        load_splits(config)
