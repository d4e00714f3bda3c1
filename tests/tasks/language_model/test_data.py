"""Reading, splitting, vocabulary and batching: every token a target exactly once, streams contiguous."""
import numpy as np
import pytest

from common.errors import DataError
from tasks.language_model import data
from tasks.language_model.data import BOUNDARY_ID, PAD_ID, UNK_ID
from tests.tasks.language_model.helpers import WORDS, config_for, write


def test_word_tokens_get_an_eos_after_every_line():
    assert data.tokenize(" a b \n\nc\n", "word") == ["a", "b", "<eos>", "<eos>", "c", "<eos>"]


def test_char_tokens_keep_newlines():
    assert data.tokenize("ab\nc", "char") == ["a", "b", "\n", "c"]


def test_vocabulary_starts_with_the_specials_then_by_frequency():
    tokens = ["b", "a", "b", "<unk>", "c", "<eos>", "b", "a"]
    assert data.fit_vocabulary(tokens, "word", 1, None) == ["", "<unk>", "<eos>", "b", "a", "c"]
    assert data.fit_vocabulary(tokens, "word", 2, None) == ["", "<unk>", "<eos>", "b", "a"]
    assert data.fit_vocabulary(tokens, "word", 1, 4) == ["", "<unk>", "<eos>", "b"]
    assert data.fit_vocabulary(list("ab\n"), "char", 1, None)[:3] == ["", "<unk>", "\n"]


def test_a_files_own_unk_is_the_unknown_token():
    vocabulary = data.fit_vocabulary(["x", "<unk>", "<unk>"], "word", 1, None)
    ids = data.to_ids(["<unk>", "never-seen", "x"], {t: i for i, t in enumerate(vocabulary)})
    assert ids.tolist() == [UNK_ID, UNK_ID, vocabulary.index("x")]


def test_streams_are_contiguous_and_every_token_is_a_target_once():
    ids = np.arange(3, 26, dtype="int32")  # 23 tokens
    x, y = data.streams(ids, 4)
    assert x.shape == (4, 6)
    real = y != PAD_ID
    assert y[real].tolist() == ids.tolist()  # row-major: stream 0, then 1, ...: the text in order
    assert x[0, 0] == BOUNDARY_ID and (x[:, 1:][real[:, 1:]] == y[:, :-1][real[:, 1:]]).all()
    assert (x[1:, 0] == y[:-1, -1]).all()  # each stream starts where the previous one ended


@pytest.mark.parametrize("seed", [None, 0, 1])
def test_windows_cover_the_streams_without_overlap(seed):
    ids = np.arange(3, 103, dtype="int32")
    dataset = data.stream_dataset(ids, 3, 7, seed=seed)
    windows = list(dataset.as_numpy_iterator())
    assert len(windows) == int(dataset.cardinality())
    x, y = data.streams(ids, 3)
    np.testing.assert_array_equal(np.concatenate([w[0] for w in windows], axis=1), x)
    np.testing.assert_array_equal(np.concatenate([w[1] for w in windows], axis=1), y)


def test_random_window_lengths_change_every_epoch_but_not_their_count():
    dataset = data.stream_dataset(np.arange(3, 403, dtype="int32"), 2, 20, seed=0)
    epochs = [[w[0].shape[1] for w in dataset.as_numpy_iterator()] for _ in range(2)]
    assert len(epochs[0]) == len(epochs[1]) == 10 and epochs[0] != epochs[1]
    assert sum(epochs[0]) == sum(epochs[1]) == 200


def test_line_batching_makes_one_padded_example_per_line():
    ids = np.array([5, 6, BOUNDARY_ID, BOUNDARY_ID, 7, BOUNDARY_ID], "int32")  # "a b", blank line, "c"
    batches = list(data.line_dataset(ids, 4).as_numpy_iterator())
    (x, y), = batches
    assert x.tolist() == [[BOUNDARY_ID, 5, 6], [BOUNDARY_ID, 7, PAD_ID]]
    assert y.tolist() == [[5, 6, BOUNDARY_ID], [7, BOUNDARY_ID, PAD_ID]]


def test_one_file_is_split_contiguously_by_lines(tmp_path):
    lines = [f"w{i}" for i in range(10)]
    path = write(tmp_path, "c.txt", "\n".join(lines) + "\n")
    prepared = data.prepare(config_for(path, **{"data.val_fraction": 0.2, "data.test_fraction": 0.2}))
    vocabulary = prepared.state["vocabulary"]
    words = {s: [vocabulary[i] for i in prepared.ids[s] if i != BOUNDARY_ID] for s in ("train", "val", "test")}
    assert words == {"train": lines[:6], "val": ["<unk>"] * 2, "test": ["<unk>"] * 2}


def test_characters_split_at_nanogpts_boundary_and_test_zero_reuses_val(tmp_path):
    text = "abcdefghij" * 10
    path = write(tmp_path, "c.txt", text)
    config = config_for(path, **{"data.granularity": "char", "data.val_fraction": 0.1, "data.test_fraction": 0.0})
    prepared = data.prepare(config)
    assert len(prepared.ids["train"]) == int(0.9 * len(text)) and len(prepared.ids["val"]) == 10
    assert prepared.test_is_val and prepared.ids["test"].tolist() == prepared.ids["val"].tolist()
    assert "validation split" in prepared.info["test split"]


def test_a_saved_state_is_reused(tmp_path):
    path = write(tmp_path, "c.txt", WORDS * 5)
    first = data.prepare(config_for(path))
    other = write(tmp_path, "o.txt", "completely new words here\n" * 20)
    assert data.prepare(config_for(other), first.state).state == first.state


@pytest.mark.parametrize("content, message", [(b"", "has no text"), (b"\n \n", "has no text"),
                                               (b"caf\xe9\n", "not valid utf-8")])
def test_bad_files_fail_in_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        data.prepare(config_for(path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_too_little_text_for_the_splits_is_named(tmp_path):
    path = write(tmp_path, "c.txt", "one line only\n")
    with pytest.raises(DataError, match="too little text"):
        data.prepare(config_for(path))


def test_a_backward_model_reads_lines_in_reverse_with_each_boundary_still_last():
    from tasks.language_model.data import reverse_lines

    tokens = ["a", "b", "<eos>", "c", "d", "e", "<eos>"]
    assert reverse_lines(tokens, "word") == ["e", "d", "c", "<eos>", "b", "a", "<eos>"]
    assert reverse_lines(list("ab\ncd"), "char") == list("dcba\n")


def test_a_vocabulary_that_leaves_most_training_tokens_unknown_is_refused(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS * 10), **{"data.min_freq": 1000})
    with pytest.raises(DataError, match=r"c.txt: 80% of the training tokens fall outside the vocabulary .*"
                                        r"data.min_freq \(1000\) or data.max_tokens \(None\)"):
        data.prepare(config)


def test_evaluated_text_mostly_unknown_is_warned_about_and_noted_in_the_report(tmp_path, capsys):
    val = write(tmp_path, "v.txt", "zebra yak gnu\nokapi tapir\n")
    prepared = data.prepare(config_for(write(tmp_path, "c.txt", WORDS * 10), **{"data.val": str(val)}))
    note = ("71% of the val tokens are unknown to the vocabulary; its perplexity is largely scored on the "
            "unknown")
    assert note in prepared.info["val unknown tokens"] and note in capsys.readouterr().err
    assert "test unknown tokens" not in prepared.info


def test_fewer_training_tokens_than_two_per_stream_are_refused(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS * 10), **{"train.batch_size": 100})
    with pytest.raises(DataError, match=r"c.txt: the training text has 160 tokens, too few for "
                                        r"train.batch_size=100 parallel streams"):
        data.prepare(config)


def test_streams_shorter_than_one_window_are_warned_about(tmp_path, capsys):
    data.prepare(config_for(write(tmp_path, "c.txt", WORDS * 10), **{"train.batch_size": 40, "data.bptt": 8}))
    assert "each of the 40 training streams holds 4 tokens, fewer than one window of data.bptt=8" in \
        capsys.readouterr().err


def test_random_window_lengths_with_line_batching_are_refused(tmp_path):
    from common.errors import ConfigError

    with pytest.raises(ConfigError,
                       match="'data.random_bptt': True is ignored because data.batching is line"):
        config_for(tmp_path / "c.txt", **{"data.batching": "line", "data.random_bptt": True})
