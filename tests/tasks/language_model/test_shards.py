"""A corpus in many files (a glob or a list, gzip or not) reads as the one file they were cut from."""
import gzip

import numpy as np
import pytest

from common.errors import DataError
from tasks.language_model import data
from tests.tasks.language_model.helpers import WORDS, config_for, write

TEXT = "".join(f"{line} {i}\n" for i, line in enumerate(WORDS.splitlines() * 8))


def cut(folder, text, sizes, gz=(0,)):
    """``text`` cut after ``sizes`` lines into part-N files (those numbered in ``gz`` compressed)."""
    lines = text.splitlines(keepends=True)
    folder.mkdir(parents=True)
    edges = [0, *np.cumsum(sizes).tolist(), len(lines)]
    for n, (start, end) in enumerate(zip(edges[:-1], edges[1:])):
        piece = "".join(lines[start:end]).encode("utf-8")
        name = f"part-{n}.txt.gz" if n in gz else f"part-{n}.txt"
        (folder / name).write_bytes(gzip.compress(piece) if n in gz else piece)
    return folder


def batches(dataset):
    return [tuple(part.tolist() for part in batch) for batch in dataset.as_numpy_iterator()]


@pytest.mark.parametrize("granularity", ["word", "char"])
def test_gzip_shards_by_glob_give_the_vocabulary_and_batches_of_the_single_file(tmp_path, granularity):
    whole = data.prepare(config_for(write(tmp_path, "whole.txt", TEXT), **{"data.granularity": granularity}))
    folder = cut(tmp_path / "shards", TEXT, [5, 11])
    sharded = data.prepare(config_for(folder / "part-*", **{"data.granularity": granularity}))
    assert sharded.state == whole.state
    for split in ("train", "val", "test"):
        assert sharded.ids[split].tolist() == whole.ids[split].tolist()
        assert batches(getattr(sharded, split)) == batches(getattr(whole, split))


def test_a_list_of_files_is_read_in_the_lists_order(tmp_path):
    folder = cut(tmp_path / "shards", TEXT, [20], gz=())
    files = [str(folder / "part-1.txt"), str(folder / "part-0.txt")]
    reordered = data.prepare(config_for(files[0], **{"data.path": files}))
    lines = TEXT.splitlines(keepends=True)
    expected = data.prepare(config_for(write(tmp_path, "swapped.txt", "".join(lines[20:] + lines[:20]))))
    assert reordered.ids["train"].tolist() == expected.ids["train"].tolist()


def test_a_bad_line_in_the_middle_of_a_sharded_corpus_names_its_file_and_line(tmp_path):
    folder = cut(tmp_path / "shards", TEXT, [10, 10], gz=())
    third = folder / "part-1.txt"
    lines = third.read_bytes().split(b"\n")
    lines[3] = b"caf\xe9 au lait"
    third.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as error:
        data.prepare(config_for(folder / "part-*.txt"))
    assert str(error.value).startswith(f"{third}:4: not valid utf-8 text")


def test_a_glob_matching_nothing_is_one_line_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"data path pattern .*nothing-\*\.txt matches no file"):
        data.prepare(config_for(tmp_path / "nothing-*.txt"))
