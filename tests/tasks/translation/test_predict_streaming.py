"""predict over an input read in chunks: the lines of the in-memory path; nothing written on a bad line."""
import pytest
import tensorflow as tf

from common.data import text
from common.errors import DataError
from tasks.translation import TASK
from tests.tasks.translation.helpers import config_for

LINES = [f"ein satz {i}" if i % 9 else "" for i in range(150)]


def translated(line):
    return line.replace("ein satz", "a sentence")


class Serve:
    """A stand-in SavedModel translating each line alone; it records the batches it saw."""

    def __init__(self):
        self.batches = []

    def __call__(self, source):
        lines = [s.decode() for s in source.numpy()]
        self.batches.append(lines)
        return {"translation": tf.constant([translated(line).encode() for line in lines])}


def test_a_multi_chunk_input_translates_as_the_in_memory_path_did(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "CHUNK_BYTES", 64)
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{line}\n" for line in LINES))
    serve = Serve()
    summary = TASK.predict_file(serve, config_for(), {}, source, tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text().splitlines() == [translated(line) for line in LINES]
    assert serve.batches == [LINES[start:start + 64] for start in range(0, len(LINES), 64)]
    assert summary == {"sentences": 150, "blank lines": 17}


@pytest.mark.parametrize("content", [b"", b"\n  \n\n"])
def test_an_input_without_a_sentence_writes_nothing(tmp_path, content):
    source = tmp_path / "in.txt"
    source.write_bytes(content)
    with pytest.raises(DataError, match="the file is empty"):
        TASK.predict_file(Serve(), config_for(), {}, source, tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


def test_a_bad_byte_late_in_the_input_is_named_and_leaves_no_output(tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(b"ein satz\n" * 100 + b"caf\xe9\n")
    with pytest.raises(DataError, match=rf"^{source}:101: not valid utf-8"):
        TASK.predict_file(Serve(), config_for(), {}, source, tmp_path / "out.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
