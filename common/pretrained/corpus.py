"""The text the recipe's language models read: the task's training texts plus the unlabelled
``model.pretraining.extra_text`` files (plain text, or the text column of CSV / TSV / JSON Lines), each
checked against the run's val and test texts (`common.data.leakage`) before anything trains."""
from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

from common.data.batching import chunked
from common.data.datasets import resolve
from common.data.leakage import EvaluationIndex, check_disjoint
from common.data.text import _open_bytes, read_text
from common.errors import DataError
from common.progress import progress

EXTRA_TEXT = "model.pretraining.extra_text"
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_JSON_LINES = (".jsonl", ".ndjson", ".json")
STANDARDISE_LINES = 10_000  # texts standardised (one batch of TensorFlow string ops) at a time


def read_unlabelled(path_string: str, text_column: str = "text", encoding: str = "utf-8",
                    ) -> tuple[Path, list[tuple[int, str]]]:
    """An ``extra_text`` file's texts as ``(line, text)``: one per non-blank line of a plain file, or the
    ``text_column`` of a CSV / TSV / JSON Lines file (by suffix, ``.gz`` ignored; a CSV record that spans
    lines gives its first). Paths resolve as data paths ($RNNSUITE_DATA). One `DataError` naming the file
    and the fix for a missing, binary, empty or undecodable file, or a missing column."""
    try:
        path = resolve(path_string)
    except DataError as exc:
        raise DataError(f"{EXTRA_TEXT}: {exc}; correct the path or remove it from {EXTRA_TEXT}") from None
    kinds = f"plain text (one text per line) or a CSV / TSV / JSON Lines file with a '{text_column}' column"
    binary = DataError(f"{EXTRA_TEXT}: {path} is a binary file (NUL bytes), not text; name {kinds} (UTF-16 "
                       "text: set model.pretraining.encoding: utf-16)")
    try:
        text = read_text(path, encoding)
    except DataError as exc:
        raw = _open_bytes(path) if "text (byte 0x" in str(exc) else b""
        if b"\x00" in raw[:65536] and raw[:2] not in (b"\xff\xfe", b"\xfe\xff"):
            raise binary from None
        message = str(exc).replace("data.encoding", "model.pretraining.encoding")
        raise DataError(f"{EXTRA_TEXT}: {message}") from None
    if "\x00" in text[:65536]:
        raise binary
    if not text.strip():
        raise DataError(f"{EXTRA_TEXT}: {path} is empty; fill it with {kinds}, or remove it from "
                        f"{EXTRA_TEXT}")
    lines = text.split("\n")
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _DELIMITERS:
        texts = _delimited_column(path, lines, _DELIMITERS[suffix], text_column)
    elif suffix in _JSON_LINES:
        texts = _json_lines_key(path, lines, text_column)
    else:
        texts = [(number, line.rstrip()) for number, line in enumerate(lines, start=1) if line.strip()]
    if not texts:
        raise DataError(f"{EXTRA_TEXT}: {path} holds no texts (only a header or blank ones); fill it or "
                        f"remove it from {EXTRA_TEXT}")
    return path, texts


def _delimited_column(path: Path, lines: list[str], delimiter: str, column: str) -> list[tuple[int, str]]:
    """CSV (RFC 4180 quoting, strict) or TSV (no quoting); each text with the line its record starts on."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter, quoting=quoting, strict=True)
    start, texts = 1, []
    try:
        header = [cell.strip() for cell in next(reader)]
        if column not in header:
            shown = ", ".join(repr(h) for h in header)
            raise DataError(f"{EXTRA_TEXT}: {path}:{reader.line_num}: no text column {column!r}; the header "
                            f"has {shown}; set model.pretraining.text_column to one of them")
        at = header.index(column)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{EXTRA_TEXT}: {path}:{line}: {len(row)} fields but the header has "
                                f"{len(header)}; quote fields that hold the separator")
            texts.append((line, row[at]))
    except csv.Error as exc:
        raise DataError(f"{EXTRA_TEXT}: {path}:{start}: malformed CSV ({exc}); check the quoting") from None
    return texts


def _json_lines_key(path: Path, lines: list[str], key: str) -> list[tuple[int, str]]:
    texts = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{EXTRA_TEXT}: {path}:{number}: not valid JSON ({exc.msg}); JSON Lines needs "
                            "one object per line") from None
        if not isinstance(record, dict) or not isinstance(record.get(key), str):
            raise DataError(f"{EXTRA_TEXT}: {path}:{number}: no text under the key {key!r}; set "
                            "model.pretraining.text_column to the key that holds the text")
        texts.append((number, record[key]))
    return texts


def _lm_lines(texts, standardise, tokenise, bar):
    """``texts`` as language-model lines (``tokenise``d if given, ``standardise``d, single spaces),
    ``STANDARDISE_LINES`` at a time: the same lines as one call over all of them (both work text by
    text), with a bar to move on a corpus of millions of lines and one batch of tensors in memory."""
    for part in chunked(texts, STANDARDISE_LINES):
        part = [tokenise(text) for text in part] if tokenise is not None else part
        yield from (" ".join(line.split()) for line in standardise(part))
        bar.update(len(part))


def pretraining_text(options, train_lines: list[str], standardise, tokenise, extra_text: list[str],
                     evaluation_texts: dict[str, list[str]] | None = None) -> str:
    """The task's training texts (as its model reads them) plus the ``extra_text`` files (``tokenise``d
    first, as the task's data), one text per line, all ``standardise``d like the task's vocabulary lookups.
    Every extra file is read and checked against ``evaluation_texts`` (``{split: texts}``, the run's val and
    test texts) by `check_disjoint` before anything trains."""
    p = options.pretraining
    index = EvaluationIndex(evaluation_texts or {}) if extra_text else None
    extra = []
    for path_string in extra_text:
        path, texts = read_unlabelled(path_string, p.text_column, p.encoding)
        check_disjoint(path, texts, index, p.leakage_tolerance)
        extra.extend(text for _, text in texts)
    with progress("pretraining text", total=len(train_lines) + len(extra), unit="lines") as bar:
        lines = [line for line in itertools.chain(_lm_lines(train_lines, standardise, None, bar),
                                                  _lm_lines(extra, standardise, tokenise, bar)) if line]
    if not lines:
        raise DataError("model.pretraining: the training texts and extra_text hold no words to pretrain on")
    return "\n".join(lines) + "\n"

