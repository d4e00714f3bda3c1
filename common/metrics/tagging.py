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

from common.tagging import convert

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
