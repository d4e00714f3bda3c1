"""Tag schemes (IOB1, IOB2, BIOES) read through entity spans, and entity-level metrics."""
import itertools

import pytest

from common.metrics.tagging import convert, split_tag, tagging_metrics, to_spans

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


def test_iob1_is_scored_strictly_after_conversion_to_iob2():
    # IOB1: two adjacent LOC entities (the second starts with B-); the prediction merges them
    true = [["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "I-LOC", "I-LOC"]]
    metrics = tagging_metrics(true, pred, "iob1")
    # entities: true PER, LOC, LOC; predicted PER, LOC(two tokens) -> 1 of 2 right, 1 of 3 found
    assert metrics["precision"] == pytest.approx(1 / 2) and metrics["recall"] == pytest.approx(1 / 3)
    assert metrics["strict_precision"] == pytest.approx(1 / 2) and metrics["strict_recall"] == pytest.approx(1 / 3)
    assert metrics["f1"] == pytest.approx(0.4) and metrics["strict_f1"] == pytest.approx(0.4)


def test_strict_precision_and_recall_are_reported_apart():
    true = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-MISC"]]
    pred = [["I-PER", "I-PER", "O", "B-LOC", "O", "O"]]  # PER ill-formed (strict drops it), MISC missed
    metrics = tagging_metrics(true, pred, "iob2")
    assert metrics["precision"] == pytest.approx(1.0) and metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["strict_precision"] == pytest.approx(1.0) and metrics["strict_recall"] == pytest.approx(1 / 3)


def test_per_type_scores_name_each_entity_type_and_no_average_row():
    true = [["B-PER", "O", "B-LOC", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]
    metrics = tagging_metrics(true, pred, "iob2")
    assert metrics["per_type"] == {"LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
                                   "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}}
    assert sorted(k for k in metrics if k.startswith("f1_")) == ["f1_LOC", "f1_PER"]


def test_a_type_never_predicted_or_never_true_scores_zero_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_type = tagging_metrics([["B-PER", "O"]], [["O", "B-LOC"]], "iob2")["per_type"]
    assert per_type["PER"]["precision"] == 0.0 and per_type["LOC"]["recall"] == 0.0


def test_sequences_of_different_lengths_are_rejected():
    with pytest.raises(ValueError, match="^true and predicted tag sequences must have the same lengths$"):
        tagging_metrics([["O", "O"]], [["O"]], "iob2")


def test_split_tag_keeps_hyphens_in_the_type_and_names_a_bad_tag():
    assert split_tag("B-WORK-OF-ART") == ("B", "WORK-OF-ART")
    with pytest.raises(ValueError, match="X-PER"):
        split_tag("X-PER")


def test_iob1_writes_b_only_between_adjacent_entities_of_one_type():
    assert convert(["B-PER", "O", "B-PER"], "iob2", "iob1") == (["I-PER", "O", "I-PER"], 0)


def test_every_repair_is_counted():
    assert convert(["O", "I-PER", "O", "I-LOC"], "iob2", "iob2")[1] == 2
    assert convert(["B-PER", "O", "B-LOC", "O"], "bioes", "bioes")[1] == 2
    assert convert(["O", "E-PER"], "bioes", "bioes") == (["O", "S-PER"], 1)


def test_a_new_type_or_a_tag_after_a_closed_entity_starts_an_entity():
    assert to_spans(["B-PER", "I-LOC"], "iob2") == ([("PER", 0, 1), ("LOC", 1, 2)], 1)
    assert to_spans(["B-PER", "E-PER", "I-PER", "E-PER"], "bioes") == ([("PER", 0, 2), ("PER", 2, 4)], 1)
    assert to_spans(["B-PER", "S-PER"], "bioes") == ([("PER", 0, 1), ("PER", 1, 2)], 1)
