"""Atomic file and folder writes: a crash never leaves a half-written artifact."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

from common.errors import UserError

# Errors of the disk, not of the code writing to it: a user fixes these by choosing another place.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def cannot_write(path, exc: OSError) -> UserError:
    return UserError(f"cannot write {path} ({exc.strerror or exc}); give a path in a writable folder with "
                     "free space")


def nearest_existing(path) -> Path:
    """``path`` or its closest ancestor that exists (what a write there would have to create into)."""
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def _refuse_special(path: Path, named: str) -> None:
    """A device, pipe or socket is never written over: ``os.replace`` would swap the node itself."""
    if os.path.lexists(path) and not (path.is_dir() or stat.S_ISREG(path.stat().st_mode)):
        raise UserError(f"{named} is not a regular file (a device, pipe or socket); give a file path")


def check_writable(path, what: str, folder: bool = False) -> None:
    """Refuse, before any work, a ``path`` that could not be written: under a file, in a read-only or
    virtual folder (/proc, /sys), or an existing device such as /dev/full (``os.replace`` would swap the
    device node itself for a regular file). Probes with a temporary folder it removes at once."""
    path = Path(path)
    _refuse_special(path, f"{what} {path}")
    ancestor = nearest_existing(path if folder else path.parent)
    if not ancestor.is_dir():
        raise UserError(f"{what} {path}: {ancestor} is a file, not a folder; give a path in a folder")
    longest = os.pathconf(ancestor, "PC_NAME_MAX")
    too_long = next((part for part in path.parts if len(os.fsencode(part)) > longest), None)
    if too_long is not None:
        raise UserError(f"{what} {str(path)[:80]}...: the name {too_long[:40]}... is longer than the "
                        f"{longest} bytes a file name may have here; give a shorter name")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".rnnsuite-probe.", dir=ancestor))
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot write into {ancestor} ({exc.strerror or exc}); give a path "
                        "in a writable folder") from None


def _sweep_stale(path: Path) -> None:
    """Remove the temporaries a killed write left beside ``path`` (``.<name>.*`` folders whose lock no
    live writer holds); a concurrent writer's folder is locked and kept."""
    for sibling in path.parent.glob(f".{path.name}.*"):
        if not sibling.is_dir() or sibling.is_symlink():
            continue
        try:
            fd = os.open(sibling, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(sibling, ignore_errors=True)
        except OSError:
            pass  # held by a writer that is still running
        finally:
            os.close(fd)


@contextlib.contextmanager
def _locked_temporary(path: Path, folder: bool):
    """A private folder beside ``path`` (``mkdtemp``: unique, owner-only), locked while its writer lives."""
    if not folder and path.is_dir():
        raise UserError(f"{path} is a folder, not a file; remove it or give a file path")
    _refuse_special(path, str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale(path)
        private = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except (FileExistsError, NotADirectoryError):
        raise UserError(f"cannot write {path}: {nearest_existing(path.parent)} is a file, not a "
                        "folder") from None
    except OSError as exc:
        raise cannot_write(path, exc) from None
    fd = os.open(private, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield private
    except OSError as exc:
        if exc.errno in _DISK_ERRORS:
            raise cannot_write(path, exc) from None
        raise
    finally:
        os.close(fd)
        shutil.rmtree(private, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a path inside a private temporary folder beside ``path``; move it into place only on success.

    The rename is atomic because it stays on one file system; a temporary folder left by a killed
    process is removed by the next write of the same path. Whatever the caller wrote keeps the user's
    normal permissions.
    """
    path = Path(path)
    with _locked_temporary(path, folder=False) as private:
        tmp = private / path.name
        yield tmp
        if tmp.is_dir():
            os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside ``path``; swap it in only on success."""
    path = Path(path)
    with _locked_temporary(path, folder=True) as private:
        tmp = private / path.name
        tmp.mkdir()
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # a served export must be readable by others
        old = private / "old"
        if path.exists():
            os.replace(path, old)  # inside the locked folder: a kill here leaves nothing a rerun trips on
        os.replace(tmp, path)


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


def read_json(path, fix="restore it, or rerun the command that writes it (train --overwrite for state.json)"):
    """A JSON artifact of a run; a damaged one (truncated, not JSON, a folder) is reported, never trusted."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a JSON file; remove it, then {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {fix}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is damaged ({exc.__class__.__name__}: {str(exc)[:200]}); {fix}") from None


def write_lines(path, lines) -> Path:
    """A UTF-8 text file with one item per line (atomically; its folder is created): e.g. a predict input."""
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))
    return Path(path)
