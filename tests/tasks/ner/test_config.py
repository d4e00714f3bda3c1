"""The ner config: unknown keys and choices are named, renamed keys point to their new names."""
import pytest

from common import lifecycle
from common.errors import ConfigError
from tasks.ner import TASK


def test_unknown_config_key_is_named():
    with pytest.raises(ConfigError, match="unknown config key 'model.crf_decoding'.*Allowed keys here: "
                                          ".*constrained_decoding, crf,"):
        lifecycle.load_config(TASK, TASK.demo_config_path, ["model.crf_decoding=true"])


def test_unknown_scheme_lists_choices():
    with pytest.raises(ConfigError, match="'bilou' is not allowed; choose one of iob1, iob2, bioes"):
        lifecycle.load_config(TASK, TASK.demo_config_path, ["data.scheme=bilou"])


@pytest.mark.parametrize("old,new", [("data.max_sentences", "data.max_examples"),
                                     ("model.word_dim", "model.embedding_dim")])
def test_renamed_keys_name_their_new_names(old, new):
    with pytest.raises(ConfigError, match=f"config key '{old}' was renamed to '{new}'"):
        lifecycle.load_config(TASK, TASK.demo_config_path, [f"{old}=8"])


def test_path_and_train_together_are_refused():
    with pytest.raises(ConfigError, match="set data.path .* or data.train, not both"):
        lifecycle.load_config(TASK, TASK.demo_config_path, ["data.path=all.txt"])


@pytest.mark.parametrize("overrides, message", [
    (["data.token_column=-1"], "data.token_column and data.tag_column are both -1"),
    (["data.format=jsonl", "data.token_column=1"], "'data.token_column': 1 is ignored because data.format is "
                                                  "jsonl: its records carry \"tokens\" and \"tags\" lists"),
    (["data.format=jsonl", "data.tag_column=2"],
     "'data.tag_column': 2 is ignored because data.format is jsonl"),
])
def test_columns_read_twice_or_never_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        lifecycle.load_config(TASK, TASK.demo_config_path, overrides)


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_fraction_of_a_split_read_from_its_own_file_is_refused(split):
    """The demo config names train, val and test files: no fraction of anything is carved."""
    with pytest.raises(ConfigError) as error:
        lifecycle.load_config(TASK, TASK.demo_config_path, [f"data.{split}_fraction=0.3"])
    assert str(error.value) == (f"config key 'data.{split}_fraction': 0.3 is ignored because data.{split} "
                                f"names the {split} file; remove it (or change the setting that makes it "
                                "unused)")


def test_a_fraction_of_a_carved_split_is_accepted_beside_a_named_test_file():
    sets = ["data.train=null", "data.val=null", "data.path=all.txt", "data.val_fraction=0.3"]
    config = lifecycle.load_config(TASK, TASK.demo_config_path, sets)
    assert config.data.val_fraction == 0.3 and config.data.test is not None
