"""Atomic file and folder writes: a crash never leaves a half-written artifact."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(path):
    """Yield a path inside a private temporary folder beside ``path``; move it into place only on success.

    The folder is created by ``mkdtemp`` (unique, owner-only), so no other process can
    take or swap the temporary name; the rename is atomic because it stays on one file
    system. Whatever the caller wrote keeps the user's normal permissions.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp = private / path.name
    try:
        yield tmp
        if tmp.is_dir():
            os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside ``path``; swap it in only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it owner-only; a served export must be readable
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def read_json(path):
    """A JSON artifact of a run; a damaged one (truncated, not JSON) is reported, never trusted."""
    from common.errors import UserError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is damaged ({exc.__class__.__name__}: {exc}); restore it, or rerun the "
                        "command that writes it (train --overwrite for state.json)") from None


def write_lines(path, lines) -> Path:
    """A UTF-8 text file with one item per line (atomically; its folder is created): e.g. a predict input."""
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))
    return Path(path)
