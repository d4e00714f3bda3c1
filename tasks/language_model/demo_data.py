"""Demo data for the language-model task: a corpus from a tiny grammar, and a prompts file.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.io import atomic_write_text

NOUNS = {"cat": "cats", "dog": "dogs", "bird": "birds", "child": "children", "farmer": "farmers"}
VERBS = {"sees": "see", "likes": "like", "chases": "chase", "feeds": "feed"}
ADJECTIVES = ["small", "old", "happy", "quiet", "brown"]
PLACES = ["in the garden", "near the river", "at home", "on the hill"]


def sentence(rng) -> str:
    """Subject-verb agreement across an optional adjective and relative clause, so the next word
    depends on words several steps back (what an n-gram model cannot see and an LSTM can)."""
    plural = bool(rng.integers(2))
    noun = rng.choice(list(NOUNS))
    subject = ["the"] + ([str(rng.choice(ADJECTIVES))] if rng.random() < 0.5 else [])
    subject.append(NOUNS[noun] if plural else noun)
    if rng.random() < 0.3:
        subject += ["that", "the", str(rng.choice(list(NOUNS))), str(rng.choice(list(VERBS)))]
    verb = rng.choice(list(VERBS))
    words = subject + [VERBS[verb] if plural else verb, "the", str(rng.choice(list(NOUNS)))]
    if rng.random() < 0.4:
        words += str(rng.choice(PLACES)).split()
    return " ".join(words)


def make_data(folder: Path, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.txt"
    atomic_write_text(path, "".join(sentence(rng) + "\n" for _ in range(2500)))
    return {"data.path": str(path)}


def predict_input(config, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prompts.txt"
    path.write_text("the small cats\nthe dog that the bird\n\n", encoding="utf-8")
    return path
