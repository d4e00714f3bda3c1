"""Reading and checking time-series CSV files.

Every problem in a user's file (missing column, unparsable time, unsorted or
duplicate timestamps, gaps, NaN, text in a numeric column) gets one message
with the file, the line and the fix, or is repaired by the fill policy the
config chooses.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from common.data.text import iter_lines, read_text
from common.errors import DataError


def header(path: Path, encoding="utf-8") -> list[str]:
    """The column names on the file's header line (to default data.target_columns to every column)."""
    first_line = next(iter_lines(path, encoding), (1, ""))[1]  # read alone, whatever the file's size
    if not first_line.strip():
        raise DataError(f"{path}:1: no header line (the file is empty or starts with a blank line); the "
                        "first line must name the columns")
    return [c.strip() for c in pd.read_csv(io.StringIO(first_line), nrows=0).columns]


def read_series(path, time_column: str, columns: list[str], encoding="utf-8", fill="error",
                frequency: str | None = None, sort: bool = False) -> pd.DataFrame:
    """A frame indexed by time with the requested numeric ``columns``, checked and optionally filled.

    ``path`` may be a list of files (shards of one series, e.g. one file per day, each with its own
    header): their rows are read in order as one series, and every message names the shard and its line."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    frame = pd.concat([_read_rows(p, time_column, columns, encoding) for p in paths])
    path = paths[0] if len(paths) == 1 else ", ".join(map(str, paths))  # what a message without a line names
    times = pd.to_datetime(frame[time_column].str.strip(), errors="coerce")
    bad = times.isna()
    if bad.any():
        line = frame.index[bad.argmax()]
        raise DataError(f"{line}: cannot read {frame.loc[line, time_column]!r} in column "
                        f"'{time_column}' as a date/time; fix the value or the data.time_column setting")
    values = {}
    for column in columns:
        raw = frame[column].str.strip()
        numbers = pd.to_numeric(raw.replace({"": "nan", "NA": "nan", "NaN": "nan", "nan": "nan"}),
                                errors="coerce")
        wrong = numbers.isna() & ~raw.str.lower().isin(["", "na", "nan"])
        if wrong.any():
            line = frame.index[wrong.argmax()]
            raise DataError(f"{line}: column '{column}' holds {raw[line]!r}, not a number; "
                            "fix or remove that row")
        infinite = np.isinf(numbers.to_numpy(dtype=np.float64))  # "inf", "-Infinity", "1e999"...
        if infinite.any():
            line = frame.index[infinite.argmax()]
            raise DataError(f"{line}: column '{column}' holds {raw[line]!r}, not a finite number; "
                            "fix or remove that row (leave the cell empty for a missing value)")
        values[column] = numbers.to_numpy(dtype=np.float64)
    data = pd.DataFrame(values, index=pd.DatetimeIndex(times.to_numpy(), name=time_column))
    lines = frame.index.to_numpy()
    if not data.index.is_monotonic_increasing:
        if not sort:
            pos = int(np.argmax((data.index[1:] - data.index[:-1]) < pd.Timedelta(0))) + 1
            raise DataError(f"{lines[pos]}: timestamp {data.index[pos]} comes before the previous "
                            "row's; sort the file by time or set data.sort: true")
        order = np.argsort(data.index.to_numpy(), kind="stable")
        data, lines = data.iloc[order], lines[order]
    duplicated = data.index.duplicated()
    if duplicated.any():
        pos = int(np.argmax(duplicated))
        raise DataError(f"{lines[pos]}: duplicate timestamp {data.index[pos]}; remove the repeated row")
    freq = pd.tseries.frequencies.to_offset(frequency) if frequency else _infer_step(data.index, path)
    full = pd.date_range(data.index[0], data.index[-1], freq=freq)
    if len(full) != len(data) or not full.equals(data.index):
        if fill == "error":
            pos = _first_gap(data.index, freq)
            raise DataError(f"{lines[pos + 1]}: gap in the series: {data.index[pos + 1]} follows "
                            f"{data.index[pos]} (expected a row every {freq.freqstr}); set data.fill: ffill "
                            "or interpolate to fill gaps, or data.frequency if the step is not what the data "
                            "mostly uses")
        data = data.reindex(full)
        data.index.name = time_column
    if data.isna().any().any():
        if fill == "error":
            column = data.columns[data.isna().any()].tolist()[0]
            pos = int(np.argmax(data[column].isna().to_numpy()))
            where = f"{lines[pos]}" if len(lines) == len(data) else f"{path} (at {data.index[pos]})"
            raise DataError(f"{where}: missing value (NaN) in column '{column}'; fill it in the file or "
                            "set data.fill: ffill or interpolate")
        data = data.ffill() if fill == "ffill" else data.interpolate(method="time")
        data = data.bfill()  # leading gaps have nothing before them
    data.attrs["freq"] = freq.freqstr
    return data


def _read_rows(path: Path, time_column: str, columns: list[str], encoding: str) -> pd.DataFrame:
    """One file's rows as strings, indexed by ``file:line`` (for messages), blank lines dropped."""
    text = read_text(path, encoding)
    if not text.strip():
        raise DataError(f"{path}: the file is empty; it needs a header line and rows of data")
    try:
        frame = pd.read_csv(io.StringIO(text), skip_blank_lines=False, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise _parser_error(path, exc) from None
    frame.index = [f"{path}:{line}" for line in range(2, len(frame) + 2)]  # line 1 is the header
    frame = frame[~(frame == "").all(axis=1)]  # stray blank lines
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in [time_column, *columns] if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, missing))} not found; the file has "
                        f"{', '.join(map(repr, frame.columns))}. Set data.time_column / data.target_columns / "
                        "data.covariate_columns to existing columns")
    if frame.empty:
        raise DataError(f"{path}: no data rows after the header")
    return frame


def _infer_step(index: pd.DatetimeIndex, path) -> pd.DateOffset:
    if len(index) < 2:
        raise DataError(f"{path}: a single row is not a series")
    steps = pd.Series(index[1:] - index[:-1])
    return pd.tseries.frequencies.to_offset(steps.mode().iloc[0])


def _first_gap(index, freq) -> int:
    """Position of the last row before the first gap (or off-grid step)."""
    expected = index[:-1] + freq
    return int(np.argmax(index[1:] != expected))


def _parser_error(path, exc) -> DataError:
    """pandas' tokenizer errors as one message with the file line: a ragged row or an unclosed quote."""
    message = str(exc).strip()
    ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if ragged:
        expected, line, saw = ragged.groups()
        return DataError(f"{path}:{line}: {saw} fields but the header has {expected}; remove the extra "
                         "values, or quote a value that contains a comma")
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:  # pandas counts rows from 0 with the header as row 0: row N is on file line N + 1
        line = int(quote.group(1)) + 1
        return DataError(f"{path}:{line}: a quoted value starts on this line and its closing quote (\") is "
                         "missing; close it (a quote inside a value is written \"\")")
    return DataError(f"{path}: not a valid CSV file ({message})")
