"""predict over an input read in chunks: the CoNLL and entities of the in-memory path, a window of
sentences sorted by length at a time, and neither output written on a bad line."""
import gzip
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from common.data import text
from common.errors import DataError
from tasks.ner import export
from tasks.ner.tags import entities

CONFIG = SimpleNamespace(data=SimpleNamespace(encoding="utf-8", token_column=0, scheme="iob2"))
WINDOW = 100
rng = np.random.default_rng(0)
SENTENCES = [[rng.choice(["the", "Maria", "Garcia", "visited", "Paris", "."]) + str(i % 3) for i in
              range(int(rng.integers(1, 12)))] for _ in range(2 * WINDOW + 37)]


def tags_of(tokens):
    """The stand-in tagger's answer: a capitalised word is a PER entity, so entities span tokens."""
    out = []
    for token in tokens:
        out.append(("I-PER" if out and out[-1] != "O" else "B-PER") if token[0].isupper() else "O")
    return out


class Serve:
    """A stand-in SavedModel that tags each padded sentence alone; it records the batches it saw."""

    def __init__(self):
        self.batches = []

    def __call__(self, tokens):
        rows = [[t.decode() for t in row if t] for row in tokens.numpy()]
        self.batches.append(rows)
        width = tokens.shape[1]
        return {"tags": tf.constant([tags_of(row) + [""] * (width - len(row)) for row in rows])}


def in_memory(sentences, columns=None):
    """What the whole-file path wrote: CoNLL blocks (input columns, then the tag) joined by a blank line,
    and one entities record per sentence."""
    columns = columns or [[[t] for t in s] for s in sentences]
    blocks = ["\n".join(" ".join(cols + [tag]) for cols, tag in zip(rows, tags_of(s)))
              for s, rows in zip(sentences, columns)]
    return "\n\n".join(blocks) + "\n", [entities(s, tags_of(s), "iob2") for s in sentences]


def windows_sorted_by_length(sentences):
    """The batches a window of WINDOW sentences, stably sorted by length, is cut into."""
    batches = []
    for start in range(0, len(sentences), WINDOW):
        window = sorted(sentences[start:start + WINDOW], key=len)
        batches += [window[i:i + export.PREDICT_BATCH] for i in range(0, len(window), export.PREDICT_BATCH)]
    return batches


@pytest.mark.parametrize("name", ["in.txt", "in.txt.gz", "in.conll", "in.jsonl"])
def test_a_multi_window_input_writes_the_files_of_the_in_memory_path(tmp_path, monkeypatch, name):
    monkeypatch.setattr(text, "CHUNK_BYTES", 100)  # the reader crosses many chunk boundaries
    monkeypatch.setattr(export, "PREDICT_WINDOW", WINDOW)
    columns = None
    if name == "in.conll":  # extra columns, echoed; a -DOCSTART- line and a blank line before each sentence
        columns = [[[t, "NN", str(i)] for i, t in enumerate(s)] for s in SENTENCES]
        payload = "-DOCSTART- -X- -X-\n" + "".join("\n" + "".join(" ".join(c) + "\n" for c in rows)
                                                   for rows in columns)
    elif name == "in.jsonl":
        payload = "".join(json.dumps({"tokens": s}) + "\n" + ("\n" if i % 50 == 0 else "")
                          for i, s in enumerate(SENTENCES))
    else:
        payload = "".join(" ".join(s) + "\n" + ("  \n" if i % 50 == 0 else "")
                          for i, s in enumerate(SENTENCES))
    source = tmp_path / name
    source.write_bytes(gzip.compress(payload.encode()) if name.endswith(".gz") else payload.encode())
    serve = Serve()
    summary = export.predict_file(serve, CONFIG, source, tmp_path / "out.conll")
    conll, found = in_memory(SENTENCES, columns)
    assert (tmp_path / "out.conll").read_text() == conll
    records = [json.loads(line) for line in (tmp_path / "out.entities.jsonl").read_text().splitlines()]
    assert [r["entities"] for r in records] == found and [r["sentence"] for r in records] == list(range(237))
    assert [r["tokens"] for r in records] == SENTENCES
    assert serve.batches == windows_sorted_by_length(SENTENCES)
    assert summary["sentences"] == len(SENTENCES) and summary["tokens"] == sum(map(len, SENTENCES))
    assert summary["entities"] == sum(map(len, found))
    assert summary["input format"] == {"in.conll": "conll", "in.jsonl": "jsonl"}.get(name, "text")


@pytest.mark.parametrize("name, bad, message", [
    ("in.jsonl", '{"tokens": ["unclosed"', "not valid JSON"),
    ("in.conll", "two columns", "2 column(s), expected 1"),
])
def test_a_bad_line_late_in_the_input_is_named_and_leaves_neither_output(tmp_path, monkeypatch, name, bad,
                                                                         message):
    monkeypatch.setattr(export, "PREDICT_WINDOW", WINDOW)
    lines = [json.dumps({"tokens": s}) for s in SENTENCES] if name == "in.jsonl" else \
        ["\n".join(s) + "\n" for s in SENTENCES]
    lines[WINDOW + 10] = bad
    source = tmp_path / name
    source.write_text("\n".join(lines) + "\n")
    number = WINDOW + 11 if name == "in.jsonl" else sum(len(s) + 1 for s in SENTENCES[:WINDOW + 10]) + 1
    serve = Serve()
    with pytest.raises(DataError, match=rf"^{source}:{number}: {re.escape(message)}"):
        export.predict_file(serve, CONFIG, source, tmp_path / "out" / "pred.conll")
    assert serve.batches == windows_sorted_by_length(SENTENCES[:WINDOW])  # streamed: the first window ran
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no output, no entities, no temporary


@pytest.mark.parametrize("content", ["", "\n  \n", "-DOCSTART- -X- O\n\n"])
def test_an_input_without_a_sentence_fails_before_anything_is_written(tmp_path, content):
    source = tmp_path / "in.txt"
    source.write_text(content)
    with pytest.raises(DataError, match="no (text|sentences) to tag"):
        export.predict_file(Serve(), CONFIG, source, tmp_path / "out" / "pred.conll")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, fmt", [
    ("a", "EU rejects German call\nPeter Blackburn\n", "text"),
    ("a.txt", "EU\nrejects\n", "text"),  # one width but no blank line between: words, one a line
    ("a.txt", "EU B-ORG\nrejects O\n\nPeter B-PER\n", "conll"),  # blocks of one width
    ("a.txt", "EU B-ORG\nrejects O\n\nPeter Blackburn B-PER\n", "text"),  # widths differ
    ("a.txt", "-DOCSTART- -X- O\nEU rejects German call\n", "conll"),
    ("a.iob", "EU rejects German call\n", "conll"),
    ("a.jsonl.gz", "", "jsonl"),
])
def test_the_input_layout_is_told_from_the_suffix_or_the_lines(tmp_path, name, content, fmt):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content.encode()) if name.endswith(".gz") else content.encode())
    assert export.predict_format(path) == fmt
