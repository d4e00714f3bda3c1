"""The leakage guard: unlabelled text that trains anything must not hold the run's evaluation texts.

A text matches when it is the same after `normalise`: case-folded, every run of characters that are
not letters or digits (spaces, punctuation, underscores) made one space, the ends stripped. So
``It's  GREAT!`` and ``it 's great`` (a tokenizer's output) are one text, ``it s great``: case, spacing,
tokenisation and punctuation do not hide a copy. Texts with no letter or digit are never matched.
Only whole texts match: a line that quotes an evaluation sentence inside a longer one is not caught.

The evaluation texts are kept as 8-byte blake2b digests of their normalised form (a dict, digest ->
split); the other text is normalised and looked up one line at a time, so memory is the evaluation
set's and the time linear in the text: measured on one shared CPU core, about 4 s per million
sentence-length lines and 2-4 s for IMDB's 25,000 training reviews (33 MB).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from common.errors import DataError, warn

_SEPARATORS = re.compile(r"[\W_]+")
SPLIT_NAMES = {"val": "validation", "test": "test"}


def normalise(text: str) -> str:
    """``text`` as the guard compares it: case-folded, runs of non-alphanumerics one space, stripped."""
    return _SEPARATORS.sub(" ", text.casefold()).strip()


def fingerprint(text: str) -> bytes | None:
    """The 8-byte digest of ``text``'s normalised form; None for a text with no letter or digit."""
    key = normalise(text)
    return hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest() if key else None


class EvaluationIndex:
    """The run's evaluation texts (``{split: texts}``) as digests; remembers which ones `find` met,
    over every call, so several files are judged together."""

    def __init__(self, texts: dict[str, Iterable[str]]):
        self.split_of: dict[bytes, str] = {}
        for split, split_texts in texts.items():
            for text in split_texts:
                digest = fingerprint(text)
                if digest is not None:
                    self.split_of.setdefault(digest, split)
        self.met: set[bytes] = set()

    def __len__(self) -> int:
        return len(self.split_of)

    def find(self, numbered_texts: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
        """``(line, split)`` of every text that is an evaluation text, in order."""
        if not self.split_of:
            return []
        hits = []
        for line, text in numbered_texts:
            digest = fingerprint(text)
            split = self.split_of.get(digest)
            if split is not None:
                hits.append((line, split))
                self.met.add(digest)
        return hits


def check_disjoint(path, numbered_texts: Iterable[tuple[int, str]], index: EvaluationIndex,
                   tolerance: float = 0.0, key: str = "model.pretraining.extra_text",
                   tolerance_key: str = "model.pretraining.leakage_tolerance") -> int:
    """Refuse (one `DataError` naming ``path``, the count, an example line and the fix) text whose lines
    are evaluation texts, once the evaluation texts met so far are more than ``tolerance`` of them all;
    a tolerated few are one warning. Returns how many lines of ``path`` matched."""
    hits = index.find(numbered_texts)
    if not hits:
        return 0
    line, split = hits[0]
    order = list(SPLIT_NAMES)
    found = sorted({s for _, s in hits}, key=lambda s: ((order + [s]).index(s), s))
    splits = " and ".join(SPLIT_NAMES.get(s, s) for s in found)
    met, total = len(index.met), len(index)
    plural = "s" if len(found) > 1 else ""
    what = (f"{path}: {len(hits)} line(s) of {key} are texts of the run's {splits} split{plural} (e.g. line "
            f"{line}; {met} of its {total} evaluation texts)")
    if met > tolerance * total:
        raise DataError(f"{what}, so the language models would read the evaluation data ({tolerance_key} "
                        f"{tolerance:g}); remove those lines from the file, or use text that excludes the "
                        "run's validation and test data")
    warn(f"{what}: within {tolerance_key} {tolerance:g}, so read anyway; remove them to be safe")
    return len(hits)
