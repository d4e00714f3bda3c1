"""predict over an input read in chunks: the rows of the in-memory path, and nothing written on a bad line."""
import csv
import gzip
import io
import json

import pytest
import tensorflow as tf

from common.data import text
from common.errors import DataError
from tasks.sentiment.export import PREDICT_BATCH, predict_file
from tests.tasks.sentiment.helpers import load

TEXTS = [f"review number {i}" + " good" * (i % 5) if i % 7 else "" for i in range(2 * PREDICT_BATCH + 37)]


class Serve:
    """A stand-in SavedModel whose answer depends on each text alone; it records the batches it saw."""

    def __init__(self):
        self.batches = []

    def __call__(self, text):
        texts = [t.decode() for t in text.numpy()]
        self.batches.append(texts)
        p = [min(0.99, 0.1 + 0.05 * len(t.split())) for t in texts]
        return {"label": tf.constant([b"pos" if x > 0.5 else b"neg" for x in p]),
                "probabilities": tf.constant([[1 - x, x] for x in p])}


def in_memory(texts):
    """The rows the whole-file path writes: the model over consecutive PREDICT_BATCH slices of the list."""
    serve, rows = Serve(), [["text", "label", "probability", "p_neg", "p_pos"]]
    for start in range(0, len(texts), PREDICT_BATCH):
        out = serve(tf.constant(texts[start:start + PREDICT_BATCH]))
        for t, label, p in zip(texts[start:], out["label"].numpy(), out["probabilities"].numpy()):
            rows.append([t, label.decode(), f"{p.max():.4f}", f"{p[0]:.4f}", f"{p[1]:.4f}"])
    return rows, serve.batches


def csv_payload(texts, delimiter=","):
    """A header, then ``id<delimiter>text`` rows (CSV: some texts quoted, holding the separator, a quote or
    a line break), with blank lines between some."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n",
                        quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
    writer.writerow(["id", "text"])
    for i, t in enumerate(texts):
        writer.writerow([i, t])
        out.write("\n" if i % 50 == 0 else "")
    return out.getvalue()


CSV_TEXTS = [t + (', "so" good,\nsaid one' if i % 13 == 0 else "") for i, t in enumerate(TEXTS)]


@pytest.mark.parametrize("name", ["in.txt", "in.txt.gz", "in.jsonl", "in.csv", "in.csv.gz", "in.tsv"])
def test_a_multi_chunk_input_predicts_the_rows_and_batches_of_the_in_memory_path(tmp_path, monkeypatch, name):
    monkeypatch.setattr(text, "CHUNK_BYTES", 100)  # the reader crosses many chunk boundaries
    texts = {"in.jsonl": [t for t in TEXTS if t], "in.csv": CSV_TEXTS,
             "in.csv.gz": CSV_TEXTS}.get(name, TEXTS)
    if name == "in.jsonl":
        payload = "".join(json.dumps({"text": t}) + "\n" + ("\n" if i % 50 == 0 else "")  # with blank lines
                          for i, t in enumerate(texts))
    elif ".csv" in name or ".tsv" in name:
        payload = csv_payload(texts, "\t" if name == "in.tsv" else ",")
    else:
        payload = "".join(t + "\n" for t in texts)
    source = tmp_path / name
    source.write_bytes(gzip.compress(payload.encode()) if name.endswith(".gz") else payload.encode())
    serve = Serve()
    summary = predict_file(serve, load(), ["neg", "pos"], source, tmp_path / "out.csv")
    expected, expected_batches = in_memory(texts)
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == expected
    assert serve.batches == expected_batches and len(serve.batches) > 1
    assert summary["texts"] == len(texts)


def test_a_bad_line_late_in_the_input_is_named_and_leaves_no_output(tmp_path):
    lines = [json.dumps({"text": t or "x"}) for t in TEXTS]
    lines[PREDICT_BATCH + 10] = '{"text": "unclosed'
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"^{source}:{PREDICT_BATCH + 11}: not valid JSON"):
        predict_file(Serve(), load(), ["neg", "pos"], source, tmp_path / "out" / "predictions.csv")
    assert not (tmp_path / "out" / "predictions.csv").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == []  # no temporary left either


@pytest.mark.parametrize("bad, message", [
    ('7,"an unclosed quote\n', "a quoted field starts on this line and its closing quote"),
    ("7,three,fields\n", "3 fields but the header has 2"),
])
def test_a_bad_csv_record_late_in_the_input_is_named_and_leaves_no_output(tmp_path, bad, message):
    before = csv_payload(CSV_TEXTS[:PREDICT_BATCH + 10])  # texts spanning lines: records and lines differ
    source = tmp_path / "in.csv"
    source.write_text(before + bad + "8,a plain text\n" * 40)  # an unclosed quote runs to the end
    serve = Serve()
    with pytest.raises(DataError, match=rf"^{source}:{before.count(chr(10)) + 1}: {message}"):
        predict_file(serve, load(), ["neg", "pos"], source, tmp_path / "out" / "predictions.csv")
    assert len(serve.batches) == 1  # streamed: the first batch ran before the bad record was read
    assert [p.name for p in (tmp_path / "out").iterdir()] == []


def test_an_empty_input_fails_before_anything_is_written(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("")
    with pytest.raises(DataError, match="the file is empty"):
        predict_file(Serve(), load(), ["neg", "pos"], source, tmp_path / "out" / "predictions.csv")
    assert not (tmp_path / "out").exists()
