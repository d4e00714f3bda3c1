"""Demo data for the ner task: a small synthetic dataset the project generates, and a predict input.

The main job (`tasks/demo.py`), the demo config and the conformance checks use these; real runs never do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from common.io import write_lines
from common.metrics.tagging import OUTSIDE


def make_data(folder: Path, seed: int = 0) -> dict:
    """Newswire-like sentences from templates; half the test split uses names never seen in training,
    so the character features and the context have to do the work there, and some words are
    ambiguous, as in real news ("Jordan" the person or the country, "Washington" the name or the
    city), so the word alone does not decide its tag."""
    rng = np.random.default_rng(seed)
    first = ["John", "Maria", "Ahmed", "Li", "Olga", "Pedro", "Anna", "Kofi", "Yuki", "Sven", "Ines",
             "Tomasz", "Chloe", "Ravi", "Nadia", "Jorge", "Jordan", "Georgia"]
    last = ["Smith", "Garcia", "Khan", "Wei", "Petrova", "Silva", "Berg", "Mensah", "Tanaka", "Larsen",
            "Moreau", "Kowalski", "Dubois", "Patel", "Haddad", "Ortega", "Washington"]
    places = ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Cairo", "Dublin", "Quito", "Hanoi", "Perth",
              "New York", "Buenos Aires", "Cape Town", "Kuala Lumpur", "Jordan", "Georgia", "Washington"]
    orgs = ["Acme Corp", "Globex", "Initech", "Umbrella Group", "Vandelay Industries", "Stark Bank",
            "Wayne Holdings", "Tyrell Systems", "Cyberdyne", "Soylent Foods"]
    misc = ["French", "Nigerian", "Japanese", "Peruvian", "Norwegian", "Egyptian", "Irish", "Olympic"]
    templates = [
        "{PER} visited {LOC} on Monday .",
        "{ORG} said {PER} would lead its {MISC} unit .",
        "Shares of {ORG} rose 3 percent in {LOC} trading .",
        "{PER} , a {MISC} citizen , joined {ORG} in 1996 .",
        "The {MISC} team beat {LOC} 2-1 .",
        "{LOC} police arrested {PER} after the match .",
        "{PER} told reporters in {LOC} that {ORG} was for sale .",
        "It was a quiet day .",
        "{ORG} opened an office in {LOC} last year .",
        "{PER} of {ORG} declined to comment .",
        "Fans in {LOC} cheered the {MISC} champion {PER} .",
    ]

    def sentence(names):
        template = templates[rng.integers(len(templates))]
        tokens, tags = [], []
        for word in template.split():
            if word.startswith("{") and word.endswith("}"):
                kind = word[1:-1]
                entity = (f"{rng.choice(names['first'])} {rng.choice(names['last'])}" if kind == "PER"
                          else rng.choice(names[kind]))
                parts = entity.split()
                tokens += parts
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(parts) - 1)
            else:
                tokens.append(word)
                tags.append(OUTSIDE)
        return [[t, "-", "-", g] for t, g in zip(tokens, tags)]

    def pools(part):
        def cut(names):  # a seeded shuffle first, so both parts hold one- and two-word names
            k = max(2, len(names) * 3 // 4)
            names = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
            return names[:k] if part == "seen" else names[k:]
        return {"first": cut(first), "last": cut(last), "LOC": cut(places), "ORG": cut(orgs),
                "MISC": cut(misc)}

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seen, unseen = pools("seen"), pools("unseen")
    sizes = {"train": 500, "valid": 100, "test": 100}
    paths = {}
    for split, n in sizes.items():
        rows = [sentence(seen if split != "test" or i % 2 else unseen) for i in range(n)]
        path = folder / f"ner_{split}.txt"
        text = "-DOCSTART- -X- -X- O\n\n" + "\n\n".join("\n".join(" ".join(r) for r in s) for s in rows)
        path.write_text(text + "\n", encoding="utf-8")
        paths[split] = str(path)
    return {"data.train": paths["train"], "data.val": paths["valid"], "data.test": paths["test"]}


def predict_input(config, folder: Path) -> Path:
    lines = ["Maria Garcia visited Paris on Monday .",
             "Shares of Globex rose 3 percent in Lima trading .",
             "",
             "Zoë Åberg , a Peruvian citizen , joined Initech in 1996 .",
             " ".join(["It was a quiet day ."] * 40)]
    return write_lines(Path(folder) / "ner_sentences.txt", lines)
