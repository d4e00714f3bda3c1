"""Demo data for the language-model task: a corpus from a tiny grammar, and a prompts file.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.io import atomic_write_text

NOUNS = {"cat": "cats", "dog": "dogs", "bird": "birds", "child": "children", "farmer": "farmers",
         "horse": "horses", "teacher": "teachers", "fox": "foxes"}
VERBS = {"sees": "see", "likes": "like", "chases": "chase", "feeds": "feed", "follows": "follow",
         "hears": "hear"}
INTRANSITIVE = {"sleeps": "sleep", "runs": "run", "sings": "sing", "waits": "wait"}
DETERMINERS = {False: ["the", "the", "a", "every"], True: ["the", "the", "some", "many"]}
ADJECTIVES = ["small", "old", "happy", "quiet", "brown", "young", "hungry"]
ADVERBS = ["quietly", "often", "again", "slowly"]
PLACES = ["in the garden", "near the river", "at home", "on the hill", "by the barn", "under the tree"]


def noun_phrase(rng, plural: bool, adjective_chance: float = 0.5) -> list[str]:
    noun = str(rng.choice(list(NOUNS)))
    words = [str(rng.choice(DETERMINERS[plural]))]
    if rng.random() < adjective_chance:
        words.append(str(rng.choice(ADJECTIVES)))
    return words + [NOUNS[noun] if plural else noun]


def sentence(rng) -> str:
    """Subject-verb agreement across an optional adjective and relative clause, so the next word
    depends on words several steps back (what an n-gram model cannot see and an LSTM can), and many
    free choices (words, transitive or not, adverbs, places) so the next word is rarely certain."""
    plural = bool(rng.integers(2))
    words = noun_phrase(rng, plural)
    if rng.random() < 0.3:
        inner = bool(rng.integers(2))
        verb = str(rng.choice(list(VERBS)))
        words += ["that"] + noun_phrase(rng, inner, 0.2) + [VERBS[verb] if inner else verb]
    if rng.random() < 0.7:
        verb = str(rng.choice(list(VERBS)))
        words += [VERBS[verb] if plural else verb] + noun_phrase(rng, bool(rng.integers(2)), 0.3)
    else:
        verb = str(rng.choice(list(INTRANSITIVE)))
        words.append(INTRANSITIVE[verb] if plural else verb)
        if rng.random() < 0.5:
            words.append(str(rng.choice(ADVERBS)))
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
