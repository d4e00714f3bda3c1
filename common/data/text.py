"""Reading users' text files: BOMs, CRLF endings, stray blank lines, encodings and gzip.

Every loader reads through here so that a file that is not valid text fails with
one message naming the file, the line and the fix (e.g. set ``data.encoding``).
A ``.gz`` file is decompressed transparently. `iter_lines` reads a file of any
size in chunks (bounded memory) and yields exactly the lines `read_lines` would
return; a sharded input (`common.data.datasets.resolve_all`) is read file by
file, so every message names the shard and its own line.
"""
from __future__ import annotations

import codecs
import gzip
import zlib
from pathlib import Path

from common.errors import DataError

_GZIP_ERRORS = (OSError, EOFError, zlib.error)  # bad header, truncated stream, corrupt deflate data
CHUNK_BYTES = 1 << 20


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; point the config at a file")


def _bad_gzip(path: Path, exc: Exception, after_line: int | None = None) -> DataError:
    where = f" after line {after_line}" if after_line else ""
    return DataError(f"{path}: not a valid gzip file{where} ({exc or type(exc).__name__}); the file is "
                     "truncated or damaged: compress it again, or drop the .gz suffix if it is plain text")


def _open_bytes(path: Path) -> bytes:
    _check_file(path)
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except _GZIP_ERRORS as exc:
            raise _bad_gzip(path, exc) from None
    return raw


def _codec(encoding: str) -> str:
    """The codec that reads ``encoding``: UTF-8 drops a leading byte-order mark."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _unknown_encoding(path, encoding) -> DataError:
    return DataError(f"{path}: unknown text encoding {encoding!r}; set data.encoding to one Python knows, "
                     "e.g. utf-8, cp1252 or latin-1")


def _not_text(path, line: int, byte: int, encoding: str, head: bytes) -> DataError:
    guess = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "e.g. cp1252 or latin-1"
    return DataError(f"{path}:{line}: not valid {encoding} text (byte 0x{byte:02x}); "
                     f"set data.encoding to the file's encoding ({guess})")


def read_text(path, encoding: str = "utf-8") -> str:
    """Whole file as text with a UTF-8 BOM removed and CRLF/CR turned into LF."""
    path = Path(path)
    raw = _open_bytes(path)
    try:
        text = raw.decode(_codec(encoding))
    except UnicodeDecodeError as exc:
        raise _not_text(path, raw[: exc.start].count(b"\n") + 1, raw[exc.start], encoding, raw) from None
    except LookupError:
        raise _unknown_encoding(path, encoding) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def iter_lines(path, encoding: str = "utf-8", chunk_bytes: int | None = None, on_read=None):
    """``(line_number, line)`` of every line (1-based, without its end), read ``chunk_bytes`` at a time:
    the lines of ``read_text(path).split("\\n")`` without the empty string after a final newline, in
    memory bounded by the longest line. Errors name the file and the line, as `read_text`'s do.
    ``on_read(position)`` is told the bytes of the file (compressed, for gzip) read so far."""
    path = Path(path)
    _check_file(path)
    try:
        decoder = codecs.getincrementaldecoder(_codec(encoding))()
    except LookupError:
        raise _unknown_encoding(path, encoding) from None
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    number, pending, head = 0, "", b""
    with open(path, "rb") as raw, (gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw) as handle:
        while True:
            try:
                chunk = handle.read(chunk_bytes)
            except _GZIP_ERRORS as exc:
                raise _bad_gzip(path, exc, number) from None
            if on_read is not None:
                on_read(raw.tell())
            head = head or chunk[:2]
            final = not chunk
            try:
                text = pending + decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                line = number + 1 + exc.object[: exc.start].count(b"\n")
                raise _not_text(path, line, exc.object[exc.start], encoding, head) from None
            held = "\r" if text.endswith("\r") and not final else ""  # its "\n" may open the next chunk
            lines = text[: len(text) - len(held)].replace("\r\n", "\n").replace("\r", "\n").split("\n")
            pending = lines.pop() + held
            for line in lines:
                number += 1
                yield number, line
            if final:
                break
    if pending:
        yield number + 1, pending


def progress_lines(path, encoding: str = "utf-8", what: str = "reading"):
    """`iter_lines` with a progress line (lines/s, ETA by bytes read) on a terminal: how ``predict`` reads
    an input of any size."""
    from common.progress import FileProgress

    with FileProgress(f"{what} {Path(path).name}", path, unit="lines") as bar:
        rows = 0
        for rows, pair in enumerate(iter_lines(path, encoding, on_read=lambda at: bar.update(at, rows)), 1):
            yield pair


def read_lines(path, encoding: str = "utf-8", keep_blank: bool = False) -> list[tuple[int, str]]:
    """``(line_number, line)`` pairs (1-based), right-stripped; blank lines dropped unless asked."""
    out = []
    for number, line in iter_lines(path, encoding):
        line = line.rstrip()
        if line or keep_blank:
            out.append((number, line))
    return out


def read_joined(paths, encoding: str = "utf-8") -> str:
    """The text of several files (a sharded corpus) one after the other; a file that does not end with a
    newline gets one, so no line runs on from one file into the next. One file: exactly `read_text`."""
    paths = list(paths)
    if len(paths) == 1:
        return read_text(paths[0], encoding)
    texts = [read_text(path, encoding) for path in paths]
    return "".join(text if not text or text.endswith("\n") else text + "\n" for text in texts)
