"""Finding dataset files: the user's own paths, ``$RNNSUITE_DATA``, or a checksummed download cache.

A ``data.*`` value may also name many files (a sharded corpus): a glob
(``corpus/part-*.txt.gz``, matches read in sorted order) or a list of paths and
globs (read in the list's order); `resolve_all` turns it into the files to read.

A config names a file as an absolute path, a path relative to the working
directory, or a path inside the benchmark layout (``ett/ETTh1.csv``). Layout
paths are looked up in ``$RNNSUITE_DATA`` first and then in the cache folder
(``$RNNSUITE_CACHE`` or ``~/.cache/rnnsuite/datasets``); a known file missing
from both is downloaded into the cache and its sha256 checked before use; a
cached file whose size or modification time changed since it was checked is
checked again, so a damaged or replaced file is never trusted.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from common.errors import DataError

_GH = "https://raw.githubusercontent.com"
_ETT = f"{_GH}/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small"
_CONLL = f"{_GH}/kyzhouhzau/BERT-NER/0f77e478872453df51cd3c65d1a39b12d9617f9d/old_version/NERdata"
_SST2 = f"{_GH}/eyalbd2/Reproducing-AutoPrompt/6288fb5bec9c572f2492875ae0111df5b6daed11/glue_data/SST-2"
_MR = f"{_GH}/yoonkim/CNN_sentence/23e0e1f7355705bb083043fda05c031b15acb38c"
_M30K = f"{_GH}/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1"

# layout path -> (source URL, sha256). The same files as ../shared/datasets (see its READMEs).
KNOWN_FILES = {
    "ett/ETTh1.csv": (f"{_ETT}/ETTh1.csv", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"),
    "ett/ETTh2.csv": (f"{_ETT}/ETTh2.csv", "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b"),
    "conll2003/train.txt": (f"{_CONLL}/train.txt",
                            "213953b5522fb7924802d883e50f027b2c6ffb5d4d0e63368ed82909f9b60423"),
    "conll2003/valid.txt": (f"{_CONLL}/dev.txt",
                            "c02eb19809eafb83998326a0481942eb37d96f31826ae387cfe8773699969f5b"),
    "conll2003/test.txt": (f"{_CONLL}/test.txt",
                           "dc4ac7f3d6d01a6bec59261814561da3b287b6b493b97d1f69c580b52ec1831b"),
    "sst2/train.tsv": (f"{_SST2}/train_full.tsv",
                       "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1"),
    "sst2/dev.tsv": (f"{_SST2}/dev.tsv", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"),
    "rt-polarity/rt-polarity.pos": (f"{_MR}/rt-polarity.pos",
                                    "2da124ec187a9d5a29c9f04e91c540e02baed5af8868f550a26bd6fd4dbf8bf0"),
    "rt-polarity/rt-polarity.neg": (f"{_MR}/rt-polarity.neg",
                                    "4ace77d558c3714723843f1d65b60c01e3417b208180f0728808d76ad0eeeaca"),
    "multi30k/train.en.gz": (f"{_M30K}/raw/train.en.gz",
                             "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f"),
    "multi30k/train.de.gz": (f"{_M30K}/raw/train.de.gz",
                             "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6"),
    "multi30k/val.en.gz": (f"{_M30K}/raw/val.en.gz",
                           "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28"),
    "multi30k/val.de.gz": (f"{_M30K}/raw/val.de.gz",
                           "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a"),
    "multi30k/test_2016_flickr.en.gz": (f"{_M30K}/raw/test_2016_flickr.en.gz",
                                        "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9"),
    "multi30k/test_2016_flickr.de.gz": (f"{_M30K}/raw/test_2016_flickr.de.gz",
                                        "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8"),
}


def data_root() -> Path | None:
    root = os.environ.get("RNNSUITE_DATA")
    return Path(root).expanduser() if root else None


def cache_root() -> Path:
    return Path(os.environ.get("RNNSUITE_CACHE", Path.home() / ".cache" / "rnnsuite" / "datasets")).expanduser()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _fingerprint(path: Path) -> dict:
    info = path.stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def download(layout_path: str, dest: Path) -> Path:
    """Fetch a known benchmark file into the cache with `keras.utils.get_file`, which checks the sha256.

    The download lands in a private temporary folder beside ``dest`` and is renamed
    into place only once its hash matched, so concurrent or interrupted downloads
    never leave a partial file under the real name.
    """
    import keras

    url, expected = KNOWN_FILES[layout_path]
    dest.parent.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=".download-", dir=dest.parent))
    try:
        fetched = keras.utils.get_file(fname=dest.name, origin=url, file_hash=expected, hash_algorithm="sha256",
                                       cache_dir=str(private), cache_subdir="")
        os.replace(fetched, dest)
    except Exception as exc:  # noqa: BLE001 - network, HTTP and hash errors all mean "not available"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{layout_path} is not in $RNNSUITE_DATA or {cache_root()} and could not be "
                        f"downloaded ({reason}); set RNNSUITE_DATA to a folder that has it") from None
    finally:
        shutil.rmtree(private, ignore_errors=True)
    _stamp(dest).write_text(json.dumps(_fingerprint(dest)))
    return dest


def _verified(layout_path: str, path: Path) -> Path:
    """A cached known file, re-hashed when it changed since the last check (else downloaded again)."""
    stamp = _stamp(path)
    try:
        unchanged = json.loads(stamp.read_text()) == _fingerprint(path)
    except (OSError, ValueError):
        unchanged = False
    if unchanged:
        return path
    if _sha256(path) == KNOWN_FILES[layout_path][1]:
        stamp.write_text(json.dumps(_fingerprint(path)))
        return path
    return download(layout_path, path)


def resolve(path: str | os.PathLike, base: Path | None = None) -> Path:
    """Turn a config's data path into an existing file, or raise one clear `DataError`."""
    text = os.path.expandvars(os.path.expanduser(str(path)))
    candidate = Path(text)
    if candidate.is_absolute():
        if candidate.exists():
            return candidate
        raise DataError(f"data file not found: {candidate}")
    tried = []
    key = candidate.as_posix()
    for folder in [Path.cwd(), base, data_root(), cache_root()]:
        if folder is None:
            continue
        full = folder / candidate
        tried.append(str(full))
        if full.exists():
            return _verified(key, full) if folder == cache_root() and key in KNOWN_FILES else full
    if key in KNOWN_FILES:
        return download(key, cache_root() / candidate)
    hint = "" if data_root() else " (RNNSUITE_DATA is not set)"
    raise DataError(f"data file not found: {path}; looked in {', '.join(tried)}{hint}")


def is_pattern(text: str) -> bool:
    """Whether a data path is a glob (``*``, ``?`` or ``[``) rather than one file's name."""
    return any(c in text for c in "*?[")


def as_list(spec) -> list[str]:
    """A ``data.*`` value (one path or pattern, or a list of them) as a list."""
    return [str(spec)] if isinstance(spec, (str, os.PathLike)) else [str(item) for item in spec]


def substitute(spec, placeholder: str, value: str):
    """``spec`` with ``placeholder`` (e.g. ``{lang}``) replaced in the path or in every path of the list."""
    if isinstance(spec, (str, os.PathLike)):
        return str(spec).replace(placeholder, value)
    return [str(item).replace(placeholder, value) for item in spec]


def describe(spec) -> str:
    """A ``data.*`` value as messages show it: the path or pattern, or the list joined by commas."""
    return ", ".join(as_list(spec))


def _matches(pattern: str, base: Path | None) -> list[Path]:
    """Files a glob matches, sorted (a stable order whatever the file system lists first); a relative
    pattern is tried in the working directory, ``base`` and ``$RNNSUITE_DATA`` (the first folder with a
    match wins)."""
    text = os.path.expandvars(os.path.expanduser(pattern))
    if Path(text).is_absolute():
        candidates = [text]
    else:
        candidates = [str(folder / text) for folder in (Path.cwd(), base, data_root()) if folder is not None]
    for full in candidates:
        found = sorted(Path(p) for p in glob.glob(full, recursive=True) if Path(p).is_file())
        if found:
            return found
    hint = "" if data_root() or Path(text).is_absolute() else " (RNNSUITE_DATA is not set)"
    raise DataError(f"data path pattern {pattern} matches no file (looked for {', '.join(candidates)})"
                    f"{hint}; check the pattern, or quote it in the config so YAML reads it as one string")


def resolve_all(spec, base: Path | None = None) -> list[Path]:
    """The files of a ``data.*`` value: one path, a glob, or a list of paths and globs; every file once,
    in a stable order (a glob's matches sorted, a list in its own order), or one clear `DataError`."""
    items = as_list(spec)
    if not items:
        raise DataError("a data path list is empty; name at least one file or pattern")
    files: list[Path] = []
    for item in items:
        text = str(item)
        literal = Path(os.path.expandvars(os.path.expanduser(text)))
        if is_pattern(text) and not literal.exists():  # a real file named data[1].csv is that file
            files.extend(_matches(text, base))
        else:
            files.append(resolve(text, base))
    return list(dict.fromkeys(files))  # a file two patterns match is read once
