"""Demo data for the sentiment task: a small synthetic dataset the project generates, and a predict input.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from common.io import atomic_path, write_lines


def make_data(folder: Path, seed: int = 0) -> dict:
    """Short synthetic reviews that are hard the way real ones are: polarity depends on word choice
    *and* on negation ("was not dull" is positive) and contrast ("..., but the ending was awful":
    the clause after "but" wins), some reviews are lukewarm ("decent", "forgettable") and only lean
    one way, and a few labels are wrong, as when annotators disagree. No model reaches 100%."""
    rng = np.random.default_rng(seed)
    positive = ["great", "wonderful", "moving", "funny", "brilliant", "charming", "superb", "delightful"]
    negative = ["boring", "awful", "dull", "clumsy", "terrible", "tedious", "bland", "painful"]
    lukewarm = {"decent": 0.7, "fine": 0.65, "okay": 0.6, "watchable": 0.6, "predictable": 0.35,
                "forgettable": 0.3, "uneven": 0.3}  # the chance that a reviewer who says it liked the film
    subjects = ["the film", "this movie", "the plot", "the acting", "the script", "the ending",
                "the soundtrack", "every scene"]
    fillers = ["honestly", "frankly", "overall", "in the end", "to be fair", "for me"]

    def clause(good: bool) -> str:
        negated = rng.random() < 0.3
        adjective = rng.choice(positive if good != negated else negative)
        return f"{rng.choice(subjects)} {'was not' if negated else 'was'} {adjective}"

    rows = []
    for _ in range(1200):
        kind = rng.random()
        if kind < 0.12:  # lukewarm: the word only leans one way
            adjective = str(rng.choice(list(lukewarm)))
            good = rng.random() < lukewarm[adjective]
            text = f"{rng.choice(subjects)} was {adjective}"
        else:
            good = bool(rng.integers(2))
            text = clause(good)
            if kind < 0.32:  # contrast: the first clause says the opposite, the one after "but" decides
                text = f"{clause(not good)}, but {text}"
            elif rng.random() < 0.3:
                text += f" and {rng.choice(subjects)} was {rng.choice(positive if good else negative)}"
        if rng.random() < 0.5:
            text = f"{rng.choice(fillers)}, {text}"
        if rng.random() < 0.05:  # annotator disagreement
            good = not good
        rows.append((text + rng.choice([".", "!", ""]), "positive" if good else "negative"))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reviews.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return {"data.path": str(path)}


def predict_input(config, folder: Path) -> Path:
    lines = ["the film was wonderful and the ending was superb",
             "honestly, the plot was not charming",
             "",
             "the acting was tedious " + "and the script was dull " * 120]
    return write_lines(Path(folder) / "texts.txt", lines)
