"""Preparing the splits: carving, cleaning, label set, class weights, capped subsets, and real layouts."""
import numpy as np
import pytest

from common import lifecycle
from common.errors import DataError
from tasks.sentiment import TASK
from tasks.sentiment.dataset import SentimentPrepared
from tests.tasks.sentiment.helpers import load, tiny_prepared, write_csv


def test_prepare_returns_the_texts_and_label_ids_of_every_split(tmp_path):
    _, prepared = tiny_prepared(tmp_path)
    assert isinstance(prepared, SentimentPrepared)
    assert sum(len(prepared.texts[s]) for s in ("train", "val", "test")) == 20
    for split in ("train", "val", "test"):
        assert prepared.label_ids[split].dtype == np.int32
        assert len(prepared.label_ids[split]) == len(prepared.texts[split])
    assert prepared.embedding_matrix is None


def test_balanced_class_weights_reach_the_training_batches(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"]] * 30 + [["bad", "neg"]] * 10)
    config = load(**{"data.path": path, "model.class_weights": "balanced", "data.val_fraction": 0.25,
                     "data.test_fraction": 0.25})
    texts, ids, weights = next(iter(TASK.prepare(config).train.unbatch().batch(100)))
    weights, ids = weights.numpy(), ids.numpy()
    assert weights[ids == 0][0] == pytest.approx(3 * weights[ids == 1][0])  # neg is 3x rarer


def test_max_examples_keeps_the_same_seeded_subset_in_file_order(tmp_path):
    path = write_csv(tmp_path / "d.csv", [[f"good {i}", "pos"] for i in range(50)] +
                     [[f"bad {i}", "neg"] for i in range(50)])
    config = load(**{"data.path": path, "data.max_examples": 7})
    first, again = TASK.prepare(config), TASK.prepare(config)
    assert len(first.texts["train"]) == 7 and first.texts["train"] == again.texts["train"]
    full = TASK.prepare(load(**{"data.path": path})).texts["train"]
    positions = [full.index(text) for text in first.texts["train"]]
    assert positions == sorted(positions)


def test_a_saved_state_is_reused_not_refitted(tmp_path):
    config, prepared = tiny_prepared(tmp_path)
    state = {"labels": prepared.state["labels"], "vocabulary": ["", "[UNK]", "good"]}
    assert TASK.prepare(config, state).state["vocabulary"] == ["", "[UNK]", "good"]


def test_pretrained_vectors_are_loaded_in_prepare_and_reported(tmp_path):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("good 1 2 3 4 5 6 7 8\nfilm 8 7 6 5 4 3 2 1\n", encoding="utf-8")
    _, prepared = tiny_prepared(tmp_path, **{"model.pretrained_vectors": str(vectors)})
    row = prepared.state["vocabulary"].index("good")
    np.testing.assert_allclose(prepared.embedding_matrix[row], [1, 2, 3, 4, 5, 6, 7, 8])
    assert prepared.embedding_matrix.shape == (len(prepared.state["vocabulary"]), 8)
    assert "2 of" in prepared.info["pretrained vectors"]


# ---- bad input -------------------------------------------------------------------------------

def test_a_test_label_unseen_in_training_is_named(tmp_path):
    train = write_csv(tmp_path / "train.csv", [["good", "pos"], ["bad", "neg"]] * 5)
    test = write_csv(tmp_path / "test.csv", [["meh", "neutral"]])
    config = load(**{"data.path": train, "data.test": test, "data.val_fraction": 0.2})
    with pytest.raises(DataError, match=r"test.csv:2: label 'neutral' in the test data never occurs in "
                                        r"the training data \(known: neg, pos\)"):
        TASK.prepare(config)


def test_empty_texts_are_dropped_with_a_counted_warning(tmp_path, capsys):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"], ["bad", "neg"]] * 10 + [["", "pos"]] * 3)
    prepared = TASK.prepare(load(**{"data.path": path, "data.val_fraction": 0.2, "data.test_fraction": 0.2}))
    assert "warning: dropped" in capsys.readouterr().err
    assert sum(len(prepared.texts[s]) for s in ("train", "val", "test")) == 20


def test_empty_texts_can_be_an_error_instead(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"], ["bad", "neg"]] * 10 + [["  ", "pos"]])
    config = load(**{"data.path": path, "data.empty_texts": "error"})
    with pytest.raises(DataError, match=r"d.csv:22: empty text in the \w+ data \(1 in all\)"):
        TASK.prepare(config)


def test_a_single_training_label_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"]] * 10)
    with pytest.raises(DataError, match=r"d.csv: every example has the label 'pos'"):
        TASK.prepare(load(**{"data.path": path}))


def test_a_single_label_in_the_training_file_names_the_file(tmp_path):
    train = write_csv(tmp_path / "train.csv", [["good", "pos"]] * 10)
    other = write_csv(tmp_path / "other.csv", [["good", "pos"], ["bad", "neg"]])
    config = load(**{"data.path": None, "data.train": train, "data.val": other, "data.test": other})
    with pytest.raises(DataError, match=r"train.csv: the training data has a single label \('pos'\)"):
        TASK.prepare(config)


def test_a_class_with_one_example_names_the_file_and_the_class(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"], ["bad", "neg"]] * 5 + [["odd", "meh"]])
    with pytest.raises(DataError, match=r"d.csv: cannot make a stratified split: class 'meh' has 1 example"):
        TASK.prepare(load(**{"data.path": path}))


# ---- real data (skips when the benchmark folder is absent) -----------------------------------

def test_sst2_layout_uses_dev_as_test_and_carves_val_from_train(shared_data, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "sentiment_sst2.yaml",
                                   ["data.max_examples=2000"])
    prepared = TASK.prepare(config)
    assert prepared.state["labels"] == ["0", "1"]
    assert prepared.texts["test"][0].startswith("it 's a charming and often affecting journey")  # dev.tsv
    assert len(prepared.texts["val"]) == 2000  # 5% of 67,349 train rows, capped



def test_fit_vocabulary_is_capped_at_max_tokens_most_frequent_first():
    from tasks.sentiment.dataset import fit_vocabulary

    texts = ["good movie good", "bad movie good", "plot"]
    assert fit_vocabulary(load(**{"model.max_tokens": 4}), texts) == ["", "[UNK]", "good", "movie"]


def test_fit_vocabulary_follows_the_standardize_option():
    from tasks.sentiment.dataset import fit_vocabulary

    texts = ["Good!", "good"]
    assert fit_vocabulary(load(), texts) == ["", "[UNK]", "good"]
    assert sorted(fit_vocabulary(load(**{"model.standardize": "none"}), texts)[2:]) == ["Good!", "good"]


def test_a_label_column_of_all_different_values_is_refused_as_the_wrong_column(tmp_path):
    rows = [[f"review {i}", "pos" if i % 2 else "neg", str(i)] for i in range(8)]
    path = write_csv(tmp_path / "d.csv", rows, header=("text", "label", "id"))
    with pytest.raises(DataError, match=r"every one of the 8 labels is different \('0', '1', '2', \.\.\.\), "
                                        r"so data.label_column 'id' looks like a text or id column"):
        TASK.prepare(load(**{"data.path": path, "data.label_column": "id"}))


def test_a_one_off_label_of_several_words_is_refused_at_its_line(tmp_path):
    rows = [[f"good {i}", "pos"] for i in range(10)] + [[f"bad {i}", "neg"] for i in range(10)]
    path = write_csv(tmp_path / "d.csv", rows[:5] + [["pos", "a good film indeed"]] + rows[5:])
    with pytest.raises(DataError, match=r"d.csv:7: the label 'a good film indeed' has several words and "
                                        r"occurs only here"):
        TASK.prepare(load(**{"data.path": path}))


def test_a_label_column_of_mostly_different_values_is_warned_about(tmp_path, capsys):
    rows = [[f"text {i}", f"c{i % 6}"] for i in range(10)]
    path = write_csv(tmp_path / "t.csv", rows)
    config = load(**{"data.path": None, "data.train": path, "data.val": path, "data.test": path})
    TASK.prepare(config)
    assert "6 different labels in 10 examples; is data.label_column 'label' the column of class labels?" in \
        capsys.readouterr().err


def test_a_vocabulary_that_leaves_most_training_tokens_unknown_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"d.csv: 67% of the training tokens fall outside the vocabulary .* "
                                        r"relax model.max_tokens \(3\)"):
        tiny_prepared(tmp_path, **{"model.max_tokens": 3})


def test_a_batch_larger_than_the_training_split_is_warned_about(tmp_path, capsys):
    tiny_prepared(tmp_path, **{"train.batch_size": 500})
    assert "train.batch_size 500 is larger than the 16 training examples" in capsys.readouterr().err
