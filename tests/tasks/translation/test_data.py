"""Translation data: in-graph tokenization, vocabularies, reading pairs and the data policies."""
import pytest
import tensorflow as tf

from common.errors import ConfigError, DataError
from tasks.translation import data
from tasks.translation.data import END_ID, build_vocabulary, detokenize, load_splits, python_tokens
from tests.tasks.translation.helpers import config_for, write


# ---- tokenization -----------------------------------------------------------------------------
def test_tokenize_lowercases_unicode_and_splits_punctuation():
    tokens = python_tokens(["Größe: Ein Mädchen's T-Shirt, (rot)!"], lowercase=True)
    assert tokens == [["größe", ":", "ein", "mädchen", "'", "s", "t", "-", "shirt", ",", "(", "rot", ")", "!"]]


def test_detokenize_reattaches_punctuation():
    tokens = tf.ragged.constant([["ein", "mädchen", "'", "s", "t", "-", "shirt", ",", "(", "rot", ")", "!"]])
    assert detokenize(tokens).numpy()[0].decode() == "ein mädchen's t-shirt, (rot)!"


def test_vocabulary_is_frequency_ordered_with_reserved_ids_and_min_freq():
    vocab = build_vocabulary([["b", "a", "b"], ["c", "a", "b"]], max_size=0, min_freq=2)
    assert vocab == ["", "[UNK]", "[START]", "[END]", "b", "a"]
    assert build_vocabulary([["b", "a", "b"]], max_size=1, min_freq=1)[4:] == ["b"]


# ---- reading data -----------------------------------------------------------------------------
def test_tsv_without_a_tab_names_file_line_and_fix(tmp_path):
    path = write(tmp_path / "pairs.tsv", "Hello.\tHallo.\nno tab here\n")
    with pytest.raises(DataError, match=r"pairs.tsv:2: 1 tab-separated field\(s\), need at least 2"):
        data.prepare(config_for(**{"data.path": path}))


def test_aligned_files_with_different_line_counts_are_an_error(tmp_path):
    for lang, text in (("de", "a\nb\nc\n"), ("en", "a\nb\n")):
        write(tmp_path / f"train.{lang}", text)
    pattern = str(tmp_path / "train.{lang}")
    with pytest.raises(DataError, match=r"train.de has 3 lines but .*train.en has 2"):
        data.prepare(config_for(**{"data.path": pattern, "data.format": "auto"}))


def test_pairs_with_an_empty_side_are_dropped_and_counted(tmp_path, capsys):
    rows = "".join(f"the dog {i} .\tder hund {i} .\n" for i in range(40)) + "only source\t\n"
    prepared = data.prepare(config_for(**{"data.path": write(tmp_path / "p.tsv", rows)}))
    assert "pairs with an empty side: {'all': 1}" in prepared.info["dropped"]
    assert "dropped sentence pairs with an empty side" in capsys.readouterr().err


def test_long_training_pairs_are_dropped_but_test_pairs_kept(tmp_path):
    rows = "".join(f"a b {i}\tx y {i}\n" for i in range(30)) + "long " * 40 + "\tlang\n"
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", rows), "data.max_length": 10,
                           "data.val": write(tmp_path / "v.tsv", "a b\tx y\n"),
                           "data.test": write(tmp_path / "t.tsv", "long " * 40 + "\tlang\n")})
    prepared = data.prepare(config)
    assert prepared.info["dropped"].startswith("1 training pairs longer than 10 tokens")
    assert len(prepared.pairs["test"]) == 1
    assert prepared.source_ids["test"][0][-1] == END_ID and len(prepared.source_ids["test"][0]) == 10


# ---- splits -----------------------------------------------------------------------------------
def test_data_path_is_carved_test_first_then_val_by_the_seed(tmp_path):
    rows = [f"s{i}\tt{i}" for i in range(50)]
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", "\n".join(rows) + "\n"), "seed": 7})
    splits, _ = load_splits(config)
    again, _ = load_splits(config)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [40, 5, 5]
    assert all(splits[s].sources == again[s].sources for s in splits)
    assert sorted(sum((splits[s].sources for s in splits), [])) == sorted(f"s{i}" for i in range(50))


def test_a_named_val_file_takes_the_place_of_the_carved_val_split(tmp_path):
    rows = "".join(f"s{i}\tt{i}\n" for i in range(50))
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", rows),
                           "data.val": write(tmp_path / "v.tsv", "v1\tw1\nv2\tw2\n")})
    splits, _ = load_splits(config)
    assert splits["val"].sources == ["v1", "v2"] and [len(splits["train"]), len(splits["test"])] == [45, 5]


def test_an_empty_carved_split_is_a_config_error(tmp_path):
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", "a\tb\nc\td\n")})
    with pytest.raises(ConfigError, match="the val split of .*p.tsv is empty; give data.val"):
        load_splits(config)


def test_max_examples_takes_a_seeded_subset_of_every_split(tmp_path):
    rows = "".join(f"s{i}\tt{i}\n" for i in range(100))
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", rows), "data.max_examples": 6})
    splits, _ = load_splits(config)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 6, 6]
    assert splits["train"].sources == load_splits(config)[0]["train"].sources


def test_prepare_with_a_saved_state_keeps_its_vocabularies(tmp_path):
    rows = "".join(f"the dog {i} .\tder hund {i} .\n" for i in range(40))
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", rows)})
    reserved = ["", "[UNK]", "[START]", "[END]"]
    state = {"source_vocab": reserved + ["dog"], "target_vocab": reserved + ["hund"]}
    prepared = data.prepare(config, state)
    assert prepared.state is state and prepared.info["vocabulary"].startswith("source 5, target 5")


def test_targets_identical_to_their_sources_are_refused(tmp_path):
    rows = "".join(f"the dog {i} .\tthe dog {i} .\n" for i in range(20))
    with pytest.raises(DataError, match="p.tsv: every training target is identical to its source sentence"):
        data.prepare(config_for(**{"data.path": write(tmp_path / "p.tsv", rows)}))


def test_a_minimum_frequency_that_leaves_most_tokens_unknown_is_refused(tmp_path):
    rows = "".join(f"the dog {i} .\tder hund {i} .\n" for i in range(20))
    with pytest.raises(DataError, match=r"p.tsv \(source side\): 100% of the training tokens .*"
                                        r"data.min_freq \(100\)"):
        data.prepare(config_for(**{"data.path": write(tmp_path / "p.tsv", rows), "data.min_freq": 100}))


def test_a_batch_larger_than_the_training_pairs_is_warned_about(tmp_path, capsys):
    rows = "".join(f"the dog {i} .\tder hund {i} .\n" for i in range(20))
    data.prepare(config_for(**{"data.path": write(tmp_path / "p.tsv", rows), "train.batch_size": 64}))
    assert "train.batch_size 64 is larger than the 16 training sentence pairs" in capsys.readouterr().err
