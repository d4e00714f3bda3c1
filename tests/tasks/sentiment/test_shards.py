"""Labelled data in many files (a glob or a list, gzip or not) reads as the one file they were cut from."""
import gzip

import pytest

from common.errors import DataError
from tasks.sentiment import TASK
from tasks.sentiment.dataset import read_split
from tests.tasks.sentiment.helpers import TINY, load, write_csv

ROWS = [[f"good film {i}", "pos"] for i in range(12)] + [[f"bad film {i}", "neg"] for i in range(12)]


def test_gzip_csv_shards_give_the_vocabulary_labels_and_batches_of_the_single_file(tmp_path):
    whole = TASK.prepare(load(**{"data.path": write_csv(tmp_path / "whole.csv", ROWS), **TINY}))
    folder = tmp_path / "shards"
    folder.mkdir()
    write_csv(folder / "part-0.csv", ROWS[:10])
    second = write_csv(tmp_path / "part-1.csv", ROWS[10:])
    (folder / "part-1.csv.gz").write_bytes(gzip.compress(open(second, "rb").read()))
    sharded = TASK.prepare(load(**{"data.path": str(folder / "part-*"), **TINY}))
    assert sharded.state == whole.state
    assert sharded.texts == whole.texts
    assert {k: v.tolist() for k, v in sharded.label_ids.items()} == \
        {k: v.tolist() for k, v in whole.label_ids.items()}
    for split in ("val", "test"):
        assert [b[0].numpy().tolist() for b in getattr(sharded, split)] == \
            [b[0].numpy().tolist() for b in getattr(whole, split)]


def test_a_ragged_row_in_the_middle_of_a_sharded_input_names_its_file_and_line(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    write_csv(folder / "a.csv", ROWS[:10])
    bad = folder / "b.csv"
    bad.write_text("text,label\ngood one,pos\nbad,one,neg\nfine,neg\n")
    with pytest.raises(DataError) as error:
        TASK.prepare(load(**{"data.path": str(folder / "*.csv"), **TINY}))
    assert str(error.value).startswith(f"{bad}:3: 3 fields but the header has 2")


def test_label_files_shards_are_read_per_label(tmp_path):
    for label in ("pos", "neg"):
        for n in range(2):
            (tmp_path / f"reviews-{n}.{label}").write_text(f"{label} text {n}\n{label} more {n}\n")
    config = load(**{"data.format": "label_files", "data.label_names": ["neg", "pos"],
                     "data.path": str(tmp_path / "reviews-*.{label}"), **TINY})
    examples = read_split(config.data, config.data.path)
    assert examples.texts == ["neg text 0", "neg more 0", "neg text 1", "neg more 1",
                              "pos text 0", "pos more 0", "pos text 1", "pos more 1"]
