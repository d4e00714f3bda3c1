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
