"""Sequence-tagging metrics: entity-level precision / recall / F1 and token accuracy, via seqeval.

Two entity-matching modes, both reported because papers differ:

* ``default`` (conlleval-compatible, the CoNLL-2003 convention): entities are read
  from possibly ill-formed sequences the way conlleval.pl reads them (an ``I-X``
  after ``O`` starts an entity).
* ``strict``: an entity counts only if its tags are well-formed in the scheme
  (seqeval's strict mode). seqeval has no strict IOB1 reader, so IOB1 sequences
  are converted to IOB2 first (the conversion repairs nothing in well-formed IOB1).
"""
from __future__ import annotations

from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2, IOBES

SCHEMES = ("iob1", "iob2", "bioes")
OUTSIDE = "O"


# ---- tag schemes (converted through entity spans) ---------------------------------------------


def split_tag(tag: str) -> tuple[str, str | None]:
    """``'B-PER' -> ('B', 'PER')``, ``'O' -> ('O', None)``; raises ValueError for anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not kind:
        raise ValueError(tag)
    return prefix, kind


def to_spans(tags, scheme: str) -> tuple[list[tuple[str, int, int]], int]:
    """Entity spans ``(type, start, end_exclusive)`` of a tag sequence, and the number of repairs.

    Rules (conlleval's): an entity starts at ``B``/``S``, or at any tag whose type
    differs from the previous token's entity, or after an entity that ended
    (``E``/``S``). In IOB1 an ``I-X`` after nothing is normal; in IOB2 and BIOES it
    is a repair (counted), and so is a BIOES entity left without its ``E``.
    """
    spans: list[tuple[str, int, int]] = []
    repairs = 0
    current = None  # (type, start) of the open entity
    closed = True  # the previous token ended its entity (E-/S-) or was O

    def close(end):
        nonlocal repairs
        if current is not None:
            if scheme == "bioes" and not closed:
                repairs += 1  # BIOES entity without its E- (or a B- where S- belongs)
            spans.append((current[0], current[1], end))

    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        if prefix == OUTSIDE:
            close(i)
            current, closed = None, True
            continue
        begins = (prefix in ("B", "S") or closed or current is None or current[0] != kind)
        if begins and prefix in ("I", "E") and scheme != "iob1":
            repairs += 1  # I-X / E-X that follows nothing it could continue
        if begins:
            close(i)
            current = (kind, i)
        closed = prefix in ("E", "S")
    close(len(tags))
    return spans, repairs


def from_spans(spans, length: int, scheme: str) -> list[str]:
    """The tag sequence of ``length`` tokens with ``spans`` written in ``scheme``."""
    tags = [OUTSIDE] * length
    previous_end, previous_kind = -1, None
    for kind, start, end in spans:
        for i in range(start, end):
            tags[i] = f"I-{kind}"
        if scheme == "iob2":
            tags[start] = f"B-{kind}"
        elif scheme == "bioes":
            if end - start == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start], tags[end - 1] = f"B-{kind}", f"E-{kind}"
        elif scheme == "iob1" and previous_end == start and previous_kind == kind:
            tags[start] = f"B-{kind}"
        previous_end, previous_kind = end, kind
    return tags


def convert(tags, source: str, target: str) -> tuple[list[str], int]:
    """Tags from ``source`` scheme to ``target`` scheme, and the number of repairs made on the way."""
    spans, repairs = to_spans(tags, source)
    return from_spans(spans, len(tags), target), repairs


# ---- metrics -----------------------------------------------------------------------------------

_STRICT = {"iob2": IOB2, "bioes": IOBES}


def _report(true, pred, **kwargs) -> dict:
    return classification_report(true, pred, output_dict=True, zero_division=0, **kwargs)


def tagging_metrics(true: list[list[str]], pred: list[list[str]], scheme: str) -> dict:
    """Flat float metrics (with ``f1_<TYPE>`` per entity type) plus a nested ``per_type`` dict
    (default-mode P/R/F1 and support).

    Scores are fractions in [0, 1]; F1 is the micro average over entities.
    """
    if len(true) != len(pred) or any(len(a) != len(b) for a, b in zip(true, pred)):
        raise ValueError("true and predicted tag sequences must have the same lengths")
    default = _report(true, pred)
    if scheme == "iob1":
        true_s = [convert(t, "iob1", "iob2")[0] for t in true]
        pred_s = [convert(p, "iob1", "iob2")[0] for p in pred]
        strict = _report(true_s, pred_s, mode="strict", scheme=IOB2)
    else:
        strict = _report(true, pred, mode="strict", scheme=_STRICT[scheme])
    micro, strict_micro = default.get("micro avg", {}), strict.get("micro avg", {})
    metrics = {
        "f1": float(micro.get("f1-score", 0.0)),
        "precision": float(micro.get("precision", 0.0)),
        "recall": float(micro.get("recall", 0.0)),
        "strict_f1": float(strict_micro.get("f1-score", 0.0)),
        "strict_precision": float(strict_micro.get("precision", 0.0)),
        "strict_recall": float(strict_micro.get("recall", 0.0)),
        "token_accuracy": float(accuracy_score(true, pred)),
    }
    for kind, row in sorted(default.items()):  # flat copies, so tables and report.md show them
        if not kind.endswith(" avg"):
            metrics[f"f1_{kind}"] = float(row["f1-score"])
    metrics["per_type"] = {
        kind: {"precision": float(row["precision"]), "recall": float(row["recall"]),
               "f1": float(row["f1-score"]), "support": int(row["support"])}
        for kind, row in default.items() if not kind.endswith(" avg")}
    return metrics
