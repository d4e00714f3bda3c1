"""Tags (tasks/ner/tags.py): entity spans, CoNLL / JSONL readers, allowed transitions and the in-graph
scheme conversion. (Tagging metrics: tests/common/metrics/test_tagging.py; char encoders:
tests/common/layers/test_char_encoders.py.)"""

import pytest

from common.errors import ConfigError, DataError
from common.metrics.tagging import convert
from tasks.ner.tags import (allowed_transitions, check_tag_column, convert_tags_tf, entities, read_conll,
                            read_jsonl, read_tagged)

BIOES = ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]


def test_entities_carry_their_token_span_and_text():
    IOB2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
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


def test_read_jsonl_refuses_a_tag_with_a_space(tmp_path):
    """Predictions join a sentence's tags with spaces (CoNLL lines, the ``sentences`` signature)."""
    path = tmp_path / "a.jsonl"
    path.write_text('{"tokens": ["New", "York"], "tags": ["B-LOC", "I-NEW YORK"]}\n')
    with pytest.raises(DataError, match=r'a.jsonl:1: "tags" must be a list of strings without spaces$'):
        read_jsonl(path)


# CoNLL-2003's columns: word, part of speech, phrase chunk, entity tag
CONLL_2003 = ("-DOCSTART- -X- -X- O\n\n"
              "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n. . O O\n\n"
              "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
              "BRUSSELS NNP B-NP B-LOC\n")


def checked(tmp_path, text, tag_column, token_column=0):
    path = tmp_path / "train.txt"
    path.write_text(text)
    check_tag_column(read_conll(path, token_column, tag_column), token_column, tag_column, path)
    return path


def test_a_tag_column_of_phrase_chunks_is_refused_naming_the_entity_column(tmp_path):
    with pytest.raises(ConfigError) as error:
        checked(tmp_path, CONLL_2003, 2)
    assert str(error.value) == (
        f"{tmp_path / 'train.txt'}:3: data.tag_column (2) reads column 2 of 4, which holds phrase-chunk tags "
        "('B-NP', 'I-NP', 'B-VP', 'O'), not entity tags; set data.tag_column to the column of the entity "
        "tags (here column 3: 'B-ORG', 'B-MISC', 'B-PER'...)")


def test_a_tag_column_of_part_of_speech_tags_is_refused(tmp_path):
    with pytest.raises(ConfigError) as error:
        checked(tmp_path, CONLL_2003, -3)
    assert str(error.value) == (
        f"{tmp_path / 'train.txt'}:3: data.tag_column (-3) reads column 1 of 4, which holds part-of-speech "
        "tags ('NNP', 'VBZ', 'JJ', 'NN'), not entity tags; set data.tag_column to the column of the entity "
        "tags (here column 3: 'B-ORG', 'B-MISC', 'B-PER'...)")


def test_a_chunking_file_without_entity_tags_is_refused_without_a_column_to_suggest(tmp_path):
    conll_2000 = "Confidence NN B-NP\nin IN B-PP\nthe DT B-NP\npound NN I-NP\nis VBZ B-VP\n. . O\n"
    with pytest.raises(ConfigError, match=r"train.txt:1: data.tag_column \(-1\) reads column 2 of 3, which "
                                          r"holds phrase-chunk tags \('B-NP', .*\), not entity tags; set "
                                          r"data.tag_column to the column of the entity tags$"):
        checked(tmp_path, conll_2000, -1)


@pytest.mark.parametrize("tags", [["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-MISC"],  # CoNLL-2003's
                                  ["B-GENE", "I-GENE", "O", "B-DRUG", "O", "O"],  # user-defined types
                                  ["B-NP", "O", "B-PER", "O", "O", "O"],  # a chunk name among entity types
                                  ["O", "O", "O", "O", "O", "O"]])
def test_entity_tag_columns_pass(tmp_path, tags):
    words = ["Peter", "met", "Anna", "in", "Rome", "today"]
    checked(tmp_path, "".join(f"{w} NN {t}\n" for w, t in zip(words, tags)), -1)
