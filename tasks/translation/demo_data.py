"""Demo data for the translation task: a small synthetic dataset the project generates, and a predict input.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.io import atomic_path, write_lines


def make_data(folder: Path, seed: int = 0) -> dict:
    """A toy language pair: English-like sentences and a "German-like" side with its own words, the
    verb moved to the end (so the decoder has to attend out of order), articles and adjective endings
    that agree with the noun's gender and case (so it has to look ahead), and, as in real parallel
    text, more than one right answer: several words have a synonym that translators pick at random,
    and a place phrase may come before the object or after the verb. The one reference per sentence
    then cannot always be matched, so BLEU stays well below 100."""
    rng = np.random.default_rng(seed)
    nouns = {"dog": ("m", ["hund"]), "cat": ("f", ["katze"]), "man": ("m", ["mann"]),
             "woman": ("f", ["frau"]), "child": ("n", ["kind"]), "bird": ("m", ["vogel"]),
             "horse": ("n", ["pferd", "ross"]), "girl": ("n", ["mädchen"]), "boy": ("m", ["junge", "knabe"]),
             "ball": ("m", ["ball"])}
    adjectives = {"big": ["groß", "riesig"], "small": ["klein", "winzig"], "red": ["rot"], "old": ["alt"],
                  "young": ["jung"], "happy": ["froh", "glücklich"]}
    verbs = {"sees": ["sieht", "erblickt"], "likes": ["mag", "liebt"], "follows": ["folgt", "verfolgt"],
             "watches": ["beobachtet", "betrachtet"], "finds": ["findet", "entdeckt"]}
    places = {"in the park": "im park", "on the street": "auf der straße", "at home": "zu hause"}
    articles = {("m", False): "der", ("f", False): "die", ("n", False): "das",
                ("m", True): "den", ("f", True): "die", ("n", True): "das"}

    def pick(words):
        """The usual word, or (one time in three) its synonym."""
        return words[1] if len(words) > 1 and rng.random() < 1 / 3 else words[0]

    def phrase(accusative):
        noun = str(rng.choice(list(nouns)))
        gender, words = nouns[noun]
        article = articles[(gender, accusative)]
        if rng.random() < 0.5:
            adj = str(rng.choice(list(adjectives)))
            ending = "en" if (gender, accusative) == ("m", True) else "e"
            return f"the {adj} {noun}", f"{article} {pick(adjectives[adj])}{ending} {pick(words)}"
        return f"the {noun}", f"{article} {pick(words)}"

    rows = set()
    while len(rows) < 1500:
        (s1, t1), (s2, t2) = phrase(False), phrase(True)
        verb = str(rng.choice(list(verbs)))
        t_verb = pick(verbs[verb])
        src, tgt = f"{s1} {verb} {s2}", f"{t1} {t2} {t_verb}"
        if rng.random() < 0.4:
            place = str(rng.choice(list(places)))
            src = f"{src} {place}"
            tgt = (f"{t1} {places[place]} {t2} {t_verb}" if rng.random() < 0.6
                   else f"{t1} {t2} {t_verb} {places[place]}")
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
