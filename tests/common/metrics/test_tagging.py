"""Tag schemes (IOB1, IOB2, BIOES) read through entity spans, and entity-level metrics."""
import itertools

import pytest

from common.metrics.tagging import convert, tagging_metrics, to_spans

IOB2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
IOB1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "O", "I-ORG"]
BIOES = ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]
SAME = {"iob1": IOB1, "iob2": IOB2, "bioes": BIOES}


@pytest.mark.parametrize("source,target", list(itertools.permutations(SAME, 2)))
def test_scheme_conversions_round_trip(source, target):
    converted, repairs = convert(SAME[source], source, target)
    assert converted == SAME[target] and repairs == 0
    assert convert(converted, target, source)[0] == SAME[source]


def test_i_tag_after_nothing_is_repaired_and_counted_in_strict_schemes():
    assert convert(["O", "I-PER", "I-PER"], "iob2", "iob2") == (["O", "B-PER", "I-PER"], 1)
    assert convert(["O", "I-PER"], "iob1", "iob2") == (["O", "B-PER"], 0)  # normal in IOB1
    assert convert(["B-PER", "I-PER", "O"], "bioes", "bioes") == (["B-PER", "E-PER", "O"], 1)


def test_spans_are_typed_and_end_exclusive():
    assert to_spans(IOB2, "iob2") == ([("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6), ("ORG", 7, 8)], 0)


def test_metrics_default_and_strict_modes():
    true = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "B-LOC"]]  # ill-formed start: conlleval accepts, strict does not
    metrics = tagging_metrics(true, pred, "iob2")
    assert metrics["f1"] == 1.0 and metrics["strict_f1"] == pytest.approx(2 / 3)
    assert metrics["token_accuracy"] == 0.75 and metrics["per_type"]["PER"]["support"] == 1
    assert metrics["f1_PER"] == 1.0 and metrics["f1_LOC"] == 1.0
