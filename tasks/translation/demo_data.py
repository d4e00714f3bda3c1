"""Demo data for the translation task: a small synthetic dataset the project generates, and a predict input.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.io import atomic_path, write_lines


def make_data(folder: Path, seed: int = 0) -> dict:
    """A toy language pair: English-like sentences and a "German-like" side with its own words
    and the verb moved to the end, so the decoder has to attend out of order."""
    rng = np.random.default_rng(seed)
    nouns = {"dog": "hund", "cat": "katze", "man": "mann", "woman": "frau", "child": "kind",
             "bird": "vogel", "horse": "pferd", "girl": "mädchen", "boy": "junge", "ball": "ball"}
    adjectives = {"big": "groß", "small": "klein", "red": "rot", "old": "alt", "young": "jung",
                  "happy": "froh"}
    verbs = {"sees": "sieht", "likes": "mag", "follows": "folgt", "watches": "beobachtet",
             "finds": "findet"}
    places = {"in the park": "im park", "on the street": "auf der straße", "at home": "zu hause"}

    def phrase():
        noun = rng.choice(list(nouns))
        if rng.random() < 0.5:
            adj = rng.choice(list(adjectives))
            return f"the {adj} {noun}", f"der {adjectives[adj]} {nouns[noun]}"
        return f"the {noun}", f"der {nouns[noun]}"

    rows = set()
    while len(rows) < 1500:
        (s1, t1), (s2, t2) = phrase(), phrase()
        verb = rng.choice(list(verbs))
        src, tgt = f"{s1} {verb} {s2}", f"{t1} {t2} {verbs[verb]}"
        if rng.random() < 0.4:
            place = rng.choice(list(places))
            src, tgt = f"{src} {place}", f"{t1} {places[place]} {t2} {verbs[verb]}"
        end = "?" if rng.random() < 0.2 else "."
        rows.add((src.capitalize() + end, tgt.capitalize() + end))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pairs.tsv"
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{s}\t{t}\n" for s, t in sorted(rows)), encoding="utf-8")
    return {"data.path": str(path), "data.format": "tsv"}


def predict_input(config, folder: Path) -> Path:
    return write_lines(Path(folder) / "sentences.txt", ["The old dog sees the red ball.", "",
                                                        "The happy child follows the cat in the park?",
                                                        "Das ist ein völlig unbekannter Satz."])
