"""Pretrained word vectors (GloVe / word2vec text files) for the text tasks' embeddings.

`load_vectors` reads GloVe or word2vec *text* files (``word v1 ... vD`` per line,
word2vec's ``count dim`` header line is recognised and skipped, ``.gz`` is read
directly) into an embedding matrix whose row ``i`` belongs to ``vocabulary[i]``,
to be assigned to a built ``Embedding`` with ``layer.embeddings.assign(matrix)`` (a ``Constant``
initializer would copy the whole matrix into the model's config and bloat ``model.keras``).
Keras has no loader for these formats, hence this small hand-written one.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from common.data.datasets import resolve
from common.errors import DataError

PADDING_TOKENS = ("",)


def _open_text(path: Path, encoding: str):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def load_vectors(path, vocabulary, dim: int, encoding: str = "utf-8", seed: int = 0,
                 lowercase_fallback: bool = True):
    """Embedding matrix ``[len(vocabulary), dim]`` and the number of vocabulary words found.

    Words missing from the file get small random vectors (seeded, scaled like the
    found ones) so they can still be learned; the padding token ``""`` gets zeros.
    With ``lowercase_fallback`` a word missing as written is looked up lowercased
    (GloVe is lowercased, many vocabularies are not). Raises `DataError` naming
    the file and line for a missing file, bad numbers, a dimension that does not
    match ``dim``, undecodable bytes, or a file that shares no word with the vocabulary.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"word-vector file not found: {path}; point the config at a GloVe/word2vec "
                        "text file")
    exact_rows: dict[str, list[int]] = {}
    lower_rows: dict[str, list[int]] = {}  # lowercased form -> rows of tokens that are not lowercase
    for index, token in enumerate(vocabulary):
        if token in PADDING_TOKENS:
            continue
        exact_rows.setdefault(token, []).append(index)
        if lowercase_fallback and token.lower() != token:
            lower_rows.setdefault(token.lower(), []).append(index)
    matrix = np.zeros((len(vocabulary), dim), dtype="float32")
    exact = np.zeros(len(vocabulary), dtype=bool)
    lowered = np.zeros(len(vocabulary), dtype=bool)
    line_no = 0
    try:
        with _open_text(path, encoding) as handle:
            for line_no, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n").rstrip(" ")
                if not line.strip():
                    continue
                parts = line.rsplit(" ", dim)
                if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec header "vocab_size dim"
                if len(parts) != dim + 1 or not parts[0]:
                    width = len(line.split(" ")) - 1
                    raise DataError(f"{path}:{line_no}: {width} numbers after the word but the embedding "
                                    f"dimension is {dim}; set it to the file's dimension ({width})")
                word = parts[0]
                rows = [i for i in exact_rows.get(word, ()) if not exact[i]]
                fallback = [i for i in lower_rows.get(word, ()) if not exact[i] and not lowered[i]]
                if not rows and not fallback:
                    continue
                try:
                    vector = np.asarray(parts[1:], dtype="float32")
                except ValueError:
                    raise DataError(f"{path}:{line_no}: the values after {word!r} are not all numbers; "
                                    "this must be a GloVe/word2vec text file (not binary)") from None
                matrix[rows], exact[rows] = vector, True  # an exact match overrides a lowercase one
                matrix[fallback], lowered[fallback] = vector, True
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}:{line_no + 1}: not valid {encoding} text ({exc.reason}); is it a binary "
                        "word2vec file? Convert it to text format, or set the vectors' encoding") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read word vectors ({exc})") from None
    has_vector = exact | lowered
    hits = int(has_vector.sum())
    if hits == 0:
        raise DataError(f"{path}: none of the {len(vocabulary)} vocabulary words has a vector in this file; "
                        "check it is a word-vector text file for the same language and casing")
    scale = float(matrix[has_vector].std()) or 0.1
    rng = np.random.default_rng(seed)
    missing = ~has_vector & np.array([t not in PADDING_TOKENS for t in vocabulary])
    matrix[missing] = rng.normal(0.0, scale, size=(int(missing.sum()), dim)).astype("float32")
    return matrix, hits


def pretrained_embeddings(path_string: str, rows: list[str], dim: int, encoding: str, seed: int,
                          specials=PADDING_TOKENS):
    """The embedding matrix for vocabulary ``rows`` from a vectors file named in the config, and the
    line the report shows (how many of the vocabulary's words the file had; ``specials`` such as the
    padding and unknown tokens are not words and are not counted)."""
    matrix, hits = load_vectors(resolve(path_string), rows, dim, encoding=encoding, seed=seed)
    words = sum(1 for row in rows if row not in specials)
    return matrix, f"{path_string}: {hits} of {words} vocabulary words found"
