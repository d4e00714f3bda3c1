"""CoNLL / JSONL readers, tagging-scheme conversions, tagging metrics and char encoders."""
import itertools

import numpy as np
import pytest

from common.errors import DataError
from common.metrics.tagging import convert, tagging_metrics, to_spans
from tasks.ner.tags import allowed_transitions, convert_tags_tf, entities, read_conll, read_jsonl, read_tagged

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


def test_spans_and_entities():
    assert to_spans(IOB2, "iob2") == ([("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 6), ("ORG", 7, 8)], 0)
    tokens = "John Smith in Paris Texas City , IBM".split()
    assert entities(tokens, IOB2, "iob2")[0] == {"type": "PER", "start": 0, "end": 2, "text": "John Smith"}


@pytest.mark.parametrize("target", ["iob1", "iob2", "bioes"])
def test_graph_conversion_matches_python(target):
    import tensorflow as tf

    rows = [BIOES, ["O", "I-PER", "I-PER", "B-LOC", "I-ORG"], ["S-PER", "S-PER", "I-LOC"]]
    width = max(map(len, rows))
    padded = tf.constant([r + ["O"] * (width - len(r)) for r in rows])
    valid = tf.constant([[i < len(r) for i in range(width)] for r in rows])
    got = convert_tags_tf(padded, valid, target).numpy().astype(str).tolist()
    for row, out in zip(rows, got):
        assert out[:len(row)] == convert(row, "bioes", target)[0]
        assert out[len(row):] == [""] * (width - len(row))


def test_allowed_transitions_forbid_i_after_o_in_iob2():
    tags = ["O", "B-PER", "I-PER"]
    allowed = allowed_transitions(tags, "iob2")
    assert allowed[0][2] == 0 and allowed[1][2] == 1 and allowed[3][2] == 0  # O->I, B->I, START->I


def test_read_conll_skips_docstart_and_keeps_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\nPeter NNP B-NP B-PER\n")
    sentences = read_conll(path)
    assert [s.tokens for s in sentences] == [["EU", "rejects"], ["Peter"]]
    assert sentences[0].tags == ["B-ORG", "O"] and sentences[1].lines == [7]


def test_read_conll_names_line_with_wrong_column_count(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("EU NNP B-ORG\nrejects O\n")
    with pytest.raises(DataError, match=r"a.txt:2: 2 column\(s\), expected 3"):
        read_conll(path)


def test_read_conll_rejects_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no sentences found"):
        read_conll(path)


def test_read_jsonl_checks_lengths(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"tokens": ["a", "b"], "tags": ["O", "O"]}\n{"tokens": ["a"], "tags": []}\n')
    with pytest.raises(DataError, match=r"a.jsonl:2: 1 tokens but 0 tags"):
        read_jsonl(path)


def test_read_tagged_accepts_jsonl_without_tags_for_prediction(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"tokens": ["EU", "rejects"]}\n')
    assert read_tagged(path, tag_column=None)[0].tokens == ["EU", "rejects"]


def test_metrics_default_and_strict_modes():
    true = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["I-PER", "I-PER", "O", "B-LOC"]]  # ill-formed start: conlleval accepts, strict does not
    metrics = tagging_metrics(true, pred, "iob2")
    assert metrics["f1"] == 1.0 and metrics["strict_f1"] == pytest.approx(2 / 3)
    assert metrics["token_accuracy"] == 0.75 and metrics["per_type"]["PER"]["support"] == 1
    assert metrics["f1_PER"] == 1.0 and metrics["f1_LOC"] == 1.0


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_char_encoders_give_zero_for_padded_words(kind):
    from common.layers.char_encoders import char_encoder

    layer = char_encoder(kind, num_chars=10, char_dim=4, units=3)
    chars = np.array([[[1, 2, 0], [0, 0, 0]]])
    out = np.asarray(layer(chars))
    assert out.shape == (1, 2, 6 if kind == "bilstm" else 3)
    assert np.allclose(out[0, 1], 0.0) and not np.allclose(out[0, 0], 0.0)
