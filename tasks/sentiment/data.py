"""Reading labelled text files (CSV, TSV, JSON Lines, one-file-per-label) and unlabelled prediction input.

Text classification data comes in a handful of layouts; every reader here
returns the same `LabelledTexts` (texts, string labels and the line each came
from) so that tasks never care which one the user has, and every problem
(missing column, empty file, ragged row, bad JSON) fails with one `DataError`
naming the file, the line and the fix. Files are decoded by `common.data.text`,
so BOMs, CRLF endings and wrong encodings are handled in one place.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from common.data.text import iter_lines, progress_lines, read_lines
from common.errors import DataError

FORMATS = ("auto", "csv", "tsv", "jsonl", "lines")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                   ".json": "jsonl", ".txt": "lines"}


@dataclass
class LabelledTexts:
    """Parallel lists: ``texts[i]`` has label ``labels[i]`` and came from ``sources[i]`` (``file:line``)."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __len__(self):
        return len(self.texts)

    def subset(self, indices) -> "LabelledTexts":
        return LabelledTexts([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                             [self.sources[i] for i in indices])

    def extend(self, other: "LabelledTexts") -> "LabelledTexts":
        self.texts.extend(other.texts)
        self.labels.extend(other.labels)
        self.sources.extend(other.sources)
        return self

    def without_empty_texts(self) -> tuple["LabelledTexts", int]:
        """Drop examples whose text is blank (they carry no signal); return how many were dropped."""
        keep = [i for i, text in enumerate(self.texts) if text.strip()]
        return self.subset(keep), len(self) - len(keep)


def detect_format(path, fmt: str = "auto") -> str:
    """The file's layout: ``fmt`` itself, or guessed from the suffix (``.csv.gz`` counts as ``.csv``)."""
    if fmt != "auto":
        if fmt not in FORMATS:
            raise DataError(f"unknown data format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    guess = _SUFFIX_FORMATS.get(suffixes[-1]) if suffixes else None
    if guess is None:
        raise DataError(f"{path}: cannot tell the format from the file name; set data.format to "
                        "csv, tsv, jsonl or lines")
    return guess


def label_text(value) -> str:
    """Labels are kept as strings: ``1`` from JSON and ``"1"`` from CSV are the same class."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _column_index(header: list[str], name: str, role: str, path) -> int:
    if name not in header:
        shown = ", ".join(repr(h) for h in header)
        raise DataError(f"{path}:1: no {role} column {name!r}; the header has {shown}; "
                        f"set data.{role}_column to one of them")
    return header.index(name)


def _read_delimited(path, text_column, label_column, delimiter, encoding) -> LabelledTexts:
    """CSV or TSV examples (`_delimited_records`) of a whole file."""
    out = LabelledTexts()
    for text, label, source in _delimited_records(path, iter_lines(path, encoding), text_column, label_column,
                                                  delimiter):
        out.texts.append(text)
        out.labels.append(label)
        out.sources.append(source)
    return out


def _delimited_records(path, numbered, text_column, label_column, delimiter):
    """``(text, label, "file:line")`` of every record of CSV (RFC 4180 quoting) or TSV (no quoting at all,
    as in GLUE and the IANA TSV definition) read from ``numbered`` (``(line, text)`` pairs), blank
    records skipped; the label is "" without ``label_column``. Records are yielded as they are read, so
    a file of any size is read in memory bounded by its longest record.

    A record may span lines (a quoted field holding a newline), so every message names the line
    where the record *starts*: for an unclosed quote, that is the line that opened it."""
    held: list[str] = []  # the lines of the record being read
    ended = []  # holds True once ``numbered`` is exhausted

    def feed():
        for _, line in numbered:
            held.append(line)
            yield line + "\n"  # a quoted field spanning lines keeps its line break
        ended.append(True)

    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(feed(), delimiter=delimiter, quoting=quoting)
    start = 1  # first line of the record being read
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            start = reader.line_num + 1
            held.clear()
            header = next(reader, None)  # leading blank lines
        if header is None:
            raise DataError(f"{path}: the file is empty; it needs a header row with "
                            f"'{text_column}' and '{label_column}' columns and at least one example")
        _check_closed(path, held, start, bool(ended), quoting)
        header = [h.strip() for h in header]
        text_at = _column_index(header, text_column, "text", path)
        label_at = _column_index(header, label_column, "label", path) if label_column else None
        start = reader.line_num + 1
        held.clear()
        for row in reader:
            line, end = start, reader.line_num
            start = end + 1
            _check_closed(path, held, line, bool(ended), quoting)
            held.clear()
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                sep = "tab" if delimiter == "\t" else repr(delimiter)
                spans = (f" (a quoted field carries this record on to line {end}: is a quote unclosed?)"
                         if end > line else "")
                raise DataError(f"{path}:{line}: {len(row)} fields but the header has {len(header)} "
                                f"({sep}-separated){spans}; quote fields that contain the separator, or "
                                "check data.format")
            label = _require_label(row[label_at], path, line) if label_at is not None else ""
            yield row[text_at], label, f"{path}:{line}"
    except csv.Error as exc:
        raise DataError(f"{path}:{start}: malformed CSV ({exc}); check the quoting") from None


def _check_closed(path, lines: list[str], start: int, at_end: bool, quoting) -> None:
    """A record that runs to the end of the file (``at_end``: the reader asked for a line past the last)
    may hold a quote that is never closed (Python's csv module then silently takes the rest of the file as
    one field): name the line that opened it. ``lines``: the record's lines, from line ``start``."""
    if quoting == csv.QUOTE_NONE or not at_end or len(lines) == 1 and '"' not in lines[0]:
        return
    try:
        for _ in csv.reader([line + "\n" for line in lines], strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" not in str(exc):
            return  # another irregularity that the lenient reader accepted
        end = start + len(lines) - 1
        raise DataError(f"{path}:{start}: a quoted field starts on this line and its closing quote (\") is "
                        f"missing{f' (it runs to the end of the file, line {end})' if end > start else ''}; "
                        'close it, and write a quote inside a field as ""') from None


def _require_label(value, path, line) -> str:
    label = label_text(value)
    if not label:
        raise DataError(f"{path}:{line}: the label is empty; every example needs a label "
                        "(remove the row or fill it in)")
    return label


def _read_jsonl(path, text_column, label_column, encoding) -> LabelledTexts:
    out = LabelledTexts()
    for text, label, source in _jsonl_records(path, read_lines(path, encoding), text_column, label_column):
        out.texts.append(text)
        out.labels.append(label)
        out.sources.append(source)
    return out


def _jsonl_records(path, numbered, text_column, label_column):
    """``(text, label, "file:line")`` of every ``(line, raw)`` JSON Lines record (blank lines dropped
    before), checked; the label is "" without ``label_column``."""
    for line, raw in numbered:
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line}: not valid JSON ({exc.msg}); JSON Lines needs one object "
                            "per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line}: expected a JSON object like "
                            f'{{"{text_column}": "...", "{label_column}": ...}}, got {type(record).__name__}')
        for key, role in ((text_column, "text"), (label_column, "label")):
            if key and key not in record:
                raise DataError(f"{path}:{line}: no {role} key {key!r} (keys: "
                                f"{', '.join(map(repr, record))}); set data.{role}_column")
        text = record[text_column]
        if not isinstance(text, str):
            raise DataError(f"{path}:{line}: '{text_column}' must be a string, got {text!r}")
        if label_column:
            _require_scalar(record[label_column], label_column, path, line)
        yield text, _require_label(record[label_column], path, line) if label_column else "", f"{path}:{line}"


def _require_scalar(value, key, path, line) -> None:
    """A JSON list, object or null label would become a made-up class like "['pos']" or "None"."""
    if value is None or isinstance(value, (list, dict)):
        shown = json.dumps(value, ensure_ascii=False)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise DataError(f"{path}:{line}: '{key}' must be one class label (a string or number), got {shown}; "
                        "give each example a single label (multi-label data is not supported)")


def read_labelled(path, text_column="text", label_column="label", fmt="auto",
                  encoding="utf-8") -> LabelledTexts:
    """Texts and labels from a CSV, TSV or JSON Lines file; raises `DataError` on any problem."""
    path = Path(path)
    kind = detect_format(path, fmt)
    if kind == "lines":
        raise DataError(f"{path}: a plain text file has no label column; use CSV, TSV or JSON Lines, "
                        "or data.label_files (one file of texts per label)")
    if kind == "jsonl":
        data = _read_jsonl(path, text_column, label_column, encoding)
    else:
        data = _read_delimited(path, text_column, label_column, "," if kind == "csv" else "\t", encoding)
    if not len(data):
        raise DataError(f"{path}: no examples (only a header or blank lines); add labelled rows")
    return data


def joined(parts) -> LabelledTexts:
    """The examples of several files (shards of one split), in order."""
    out = LabelledTexts()
    for part in parts:
        out.extend(part)
    return out


def read_label_files(files: dict, encoding="utf-8") -> LabelledTexts:
    """One plain-text file per label, one text per line (e.g. rt-polarity's ``.pos`` / ``.neg``).

    ``files`` maps label -> path, or label -> list of paths (shards). Blank lines are skipped.
    """
    if len(files) < 2:
        raise DataError("data.label_files needs at least two labels, e.g. "
                        "{positive: reviews.pos, negative: reviews.neg}")
    out = LabelledTexts()
    for label, paths in files.items():
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            lines = read_lines(path, encoding)
            if not lines:
                raise DataError(f"{path}: the file is empty; it should hold the texts labelled {label!r}, "
                                "one per line")
            for line, text in lines:
                out.texts.append(text)
                out.labels.append(label_text(label))
                out.sources.append(f"{path}:{line}")
    return out


def read_texts(path, text_column="text", fmt="auto", encoding="utf-8") -> list[str]:
    """Unlabelled texts for prediction (see `iter_texts`), as a list."""
    return list(iter_texts(path, text_column, fmt, encoding))


def iter_texts(path, text_column="text", fmt="auto", encoding="utf-8"):
    """Unlabelled texts for prediction: one per line in a plain file, or a column of CSV/TSV/JSONL.

    Blank lines of a plain file are kept as empty texts, so output rows line up with input lines.
    Every layout is read as the texts are used (any size, bounded memory, progress on a terminal)."""
    path = Path(path)
    try:
        kind = detect_format(path, fmt)
    except DataError:
        kind = "lines"  # no telling suffix: a plain file of texts
    numbered = progress_lines(path, encoding, "predict")
    if kind == "lines":
        texts = (line.rstrip() for _, line in numbered)
    elif kind == "jsonl":
        blank_dropped = ((n, line.rstrip()) for n, line in numbered if line.strip())
        texts = (text for text, _, _ in _jsonl_records(path, blank_dropped, text_column, None))
    else:
        records = _delimited_records(path, numbered, text_column, None, "," if kind == "csv" else "\t")
        texts = (text for text, _, _ in records)
    count = 0
    for count, text in enumerate(texts, 1):
        yield text
    if not count:
        raise DataError(f"{path}: the file is empty; write one text per line" if kind == "lines" else
                        f"{path}: no texts (only a header or blank lines)")


def sorted_labels(labels) -> list[str]:
    """The label set in a stable order: numerically when every label is an integer, else alphabetically."""
    unique = set(labels)
    if all(re.fullmatch(r"-?\d+", label) for label in unique):
        return sorted(unique, key=int)
    return sorted(unique)


def check_known_labels(data: LabelledTexts, known: list[str], split: str) -> None:
    """Fail on the first label that training never saw (the model has no output for it)."""
    known_set = set(known)
    for label, source in zip(data.labels, data.sources):
        if label not in known_set:
            raise DataError(f"{source}: label {label!r} in the {split} data never occurs in the training "
                            f"data (known: {', '.join(known)}); fix the label or add training examples")
