"""Tagged sentences in many files (a glob, gzip or not) read as the one file they were cut from."""
import gzip
from pathlib import Path

import pytest

from common import config as cfg
from common.errors import DataError
from tasks.ner import TASK
from tests.tasks.ner.helpers import tiny_config


def cut_at_blank_line(path, folder):
    """``path`` cut in two at a sentence boundary; the second half gzip-compressed."""
    text = path.read_text(encoding="utf-8")
    middle = text.index("\n\n", len(text) // 2) + 2
    folder.mkdir()
    (folder / "train-0.conll").write_text(text[:middle], encoding="utf-8")
    (folder / "train-1.conll.gz").write_bytes(gzip.compress(text[middle:].encode("utf-8")))
    return folder


def test_gzip_shards_give_the_vocabulary_tags_and_sentences_of_the_single_file(tmp_path):
    config = tiny_config(tmp_path)
    whole = TASK.prepare(config)
    folder = cut_at_blank_line(Path(config.data.train), tmp_path / "shards")
    sharded = TASK.prepare(cfg.with_values(config, {"data.train": str(folder / "train-*")}))
    assert sharded.state == whole.state
    for split in ("train", "val", "test"):
        assert [(s.tokens, s.tags) for s in sharded.sentences[split]] == \
            [(s.tokens, s.tags) for s in whole.sentences[split]]


def test_a_ragged_line_in_a_later_shard_names_that_file_and_line(tmp_path):
    config = tiny_config(tmp_path)
    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "a.conll").write_text("EU B-ORG\nrejects O\n\nPeter B-PER\n", encoding="utf-8")
    (folder / "b.conll").write_text("Blackburn B-PER\n\nBBC B-ORG extra\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        TASK.prepare(cfg.with_values(config, {"data.train": [str(folder / "a.conll"), str(folder / "b.conll")]}))
    assert str(error.value).startswith(f"{folder / 'b.conll'}:3: 3 column(s), expected 2")
