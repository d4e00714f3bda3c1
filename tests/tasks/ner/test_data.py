"""The ner data: tag checks naming the line, carving data.path, seeded subsets, vectors read in prepare."""
import numpy as np
import pytest

from common import lifecycle
from common.errors import DataError
from tasks.ner import TASK
from tasks.ner.data import NERPrepared
from tests.tasks.ner.helpers import tiny_config


def test_entity_type_unseen_in_training_is_an_error_naming_the_line(tmp_path):
    config = tiny_config(tmp_path, "data.max_examples=1000")  # every sentence, the edited one too
    test = tmp_path / "data" / "ner_test.txt"
    test.write_text("Acme - - B-PRODUCT\n\n" + test.read_text())
    with pytest.raises(DataError, match=r"test.txt:1: tag 'B-PRODUCT': its entity type never occurs"):
        TASK.prepare(config)


def test_entity_type_unseen_in_training_can_be_read_as_outside(tmp_path):
    config = tiny_config(tmp_path, "data.unseen_tags=outside", "data.max_examples=1000")
    test = tmp_path / "data" / "ner_test.txt"
    test.write_text("Acme - - B-PRODUCT\n\n" + test.read_text())
    prepared = TASK.prepare(config)
    assert prepared.sentences["test"][0].tags == ["O"] and prepared.info["unseen tags read as O"] == "{'test': 1}"


def test_tag_outside_the_scheme_is_an_error(tmp_path):
    config = tiny_config(tmp_path, "data.max_examples=1000")  # every sentence, the edited one too
    train = tmp_path / "data" / "ner_train.txt"
    train.write_text(train.read_text().replace("B-PER", "S-PER", 1))
    with pytest.raises(DataError, match="tag 'S-PER' is not valid in scheme iob2"):
        TASK.prepare(config)


def test_prepare_returns_sentences_in_the_model_scheme_with_the_tags_as_read(tmp_path):
    prepared = TASK.prepare(tiny_config(tmp_path))
    assert isinstance(prepared, NERPrepared) and prepared.embedding_matrix is None
    tags = {t for s in prepared.sentences["train"] for t in s.tags}
    raw = {t for s in prepared.sentences["train"] for t in s.raw_tags}
    assert "E-PER" in tags and all(t == "O" or t[0] in "BI" for t in raw)  # bioes model, iob2 files


def test_max_examples_is_a_seeded_subset_kept_in_file_order(tmp_path):
    full = TASK.prepare(tiny_config(tmp_path, "data.max_examples=1000"))
    sub = TASK.prepare(tiny_config(tmp_path))  # data.max_examples=48
    again = TASK.prepare(tiny_config(tmp_path))
    for split in ("train", "val", "test"):
        lines = [s.lines[0] for s in sub.sentences[split]]
        assert len(lines) == 48 and lines == sorted(lines)
        assert lines == [s.lines[0] for s in again.sentences[split]]
        assert lines != [s.lines[0] for s in full.sentences[split]][:48]  # not simply the first ones
    assert sub.info["train data"].startswith("48 sentences")


def test_data_path_is_carved_into_three_splits(tmp_path):
    config = tiny_config(tmp_path)
    sets = [f"data.path={tmp_path / 'data' / 'ner_train.txt'}", "data.max_examples=1000",
            "data.val_fraction=0.2", "data.test_fraction=0.1"]
    config = lifecycle.load_config(TASK, TASK.demo_config_path, sets + ["data.train=null", "data.val=null",
                                                                        "data.test=null"])
    sizes = {split: len(s) for split, s in TASK.prepare(config).sentences.items()}
    assert sizes == {"train": 350, "val": 100, "test": 50}


def test_pretrained_vectors_are_read_in_prepare(tmp_path):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("visited 0.1 0.2 0.3\nnever-seen 1 1 1\n")
    config = tiny_config(tmp_path, f"model.pretrained_vectors={vectors}", "model.embedding_dim=3")
    prepared = TASK.prepare(config)
    row = prepared.state["vocabulary"].index("visited") + 2  # 0: padding, 1: unknown word
    assert prepared.embedding_matrix.shape == (len(prepared.state["vocabulary"]) + 2, 3)
    np.testing.assert_allclose(prepared.embedding_matrix[row], [0.1, 0.2, 0.3])
    assert prepared.info["pretrained vectors"].startswith(f"{vectors}: 1 of ")



def test_token_and_tag_columns_naming_the_same_column_of_the_file_are_refused(tmp_path):
    from common.errors import ConfigError

    config = tiny_config(tmp_path, "data.token_column=3")  # the demo files have four columns: 3 is -1
    with pytest.raises(ConfigError, match=r"ner_train.txt:\d+: data.token_column \(3\) and "
                                          r"data.tag_column \(-1\) both name column 3 of the 4"):
        TASK.prepare(config)


def test_a_jsonl_file_read_by_suffix_refuses_conll_column_options(tmp_path):
    from common.errors import ConfigError

    train = tmp_path / "train.jsonl"
    train.write_text('{"tokens": ["John", "left"], "tags": ["B-PER", "O"]}\n', encoding="utf-8")
    config = tiny_config(tmp_path, "data.format=auto", f"data.train={train}", "data.tag_column=2")
    with pytest.raises(ConfigError, match=r"'data.tag_column': 2 is ignored because data.format auto reads .*"
                                          r"train.jsonl as JSON Lines"):
        TASK.prepare(config)


def test_a_minimum_word_count_that_leaves_most_tokens_unknown_is_refused(tmp_path):
    config = tiny_config(tmp_path, "model.min_word_count=100000")
    with pytest.raises(DataError, match=r"ner_train.txt: 100% of the training tokens fall outside the "
                                        r"vocabulary.*model.min_word_count \(100000\)"):
        TASK.prepare(config)


def test_a_batch_larger_than_the_training_sentences_is_warned_about(tmp_path, capsys):
    TASK.prepare(tiny_config(tmp_path, "train.batch_size=100"))
    assert "train.batch_size 100 is larger than the 48 training sentences" in capsys.readouterr().err


def test_a_tag_column_pointing_at_the_chunk_column_is_refused_at_data_load(tmp_path):
    from common.errors import ConfigError

    train = tmp_path / "conll.txt"
    train.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\nPeter NNP B-NP B-PER\n")
    config = tiny_config(tmp_path, *(f"data.{split}={train}" for split in ("train", "val", "test")),
                         "data.tag_column=2")
    with pytest.raises(ConfigError, match=r"^\S*conll.txt:1: data.tag_column \(2\) reads column 2 of 4, "
                                          r"which holds phrase-chunk tags .*\(here column 3: 'B-ORG', "
                                          r"'B-MISC', 'B-PER'\.\.\.\)$"):
        TASK.prepare(config)
