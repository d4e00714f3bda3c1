"""Reading users' text files: BOMs, CRLF endings, stray blank lines and encodings.

Every loader reads through here so that a file that is not valid text fails with
one message naming the file, the line and the fix (e.g. set ``data.encoding``).
"""
from __future__ import annotations

import gzip
from pathlib import Path

from common.errors import DataError


def _open_bytes(path: Path) -> bytes:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a folder; point the config at a file")
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc})") from None
    return raw


def read_text(path, encoding: str = "utf-8") -> str:
    """Whole file as text with a UTF-8 BOM removed and CRLF/CR turned into LF."""
    path = Path(path)
    raw = _open_bytes(path)
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        guess = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "e.g. cp1252 or latin-1"
        raise DataError(
            f"{path}:{line}: not valid {encoding} text (byte 0x{raw[exc.start]:02x}); "
            f"set data.encoding to the file's encoding ({guess})") from None
    except LookupError:
        raise DataError(f"{path}: unknown text encoding {encoding!r}; set data.encoding to one Python knows, "
                        "e.g. utf-8, cp1252 or latin-1") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_lines(path, encoding: str = "utf-8", keep_blank: bool = False) -> list[tuple[int, str]]:
    """``(line_number, line)`` pairs (1-based), right-stripped; blank lines dropped unless asked."""
    lines = read_text(path, encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for number, line in enumerate(lines, start=1):
        line = line.rstrip()
        if line or keep_blank:
            out.append((number, line))
    return out
