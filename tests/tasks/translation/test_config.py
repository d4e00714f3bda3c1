"""Translation config: the data and model sections reject what cannot work, at load time."""
import pytest

from common import lifecycle
from common.config import shown
from common.errors import ConfigError
from tasks.translation import TASK
from tests.conftest import REPO
from tests.tasks.translation.helpers import config_for


def test_parallel_format_needs_the_lang_placeholder():
    with pytest.raises(ConfigError, match=r"'data.path': format parallel needs \{lang\}"):
        config_for(**{"data.path": "train.txt", "data.format": "parallel"})


def test_tsv_format_rejects_a_path_with_the_lang_placeholder():
    pattern = r"'data.path': 'train.\{lang\}' contains \{lang\} but data.format is tsv"
    with pytest.raises(ConfigError, match=pattern):
        config_for(**{"data.path": "train.{lang}", "data.format": "tsv"})


def test_same_source_and_target_column_is_rejected():
    with pytest.raises(ConfigError, match="source_column and data.target_column are both 0"):
        config_for(**{"data.target_column": 0})


def test_same_source_and_target_language_is_rejected():
    with pytest.raises(ConfigError, match="source_lang and data.target_lang are both 'de'"):
        config_for(**{"data.target_lang": "de"})


def test_the_shared_data_path_rule_applies():
    with pytest.raises(ConfigError, match="set data.path .* or data.train, not both"):
        config_for(**{"data.train": "train.tsv"})


def test_unknown_attention_type_lists_the_choices():
    with pytest.raises(ConfigError, match="choose one of bahdanau, luong_dot, luong_general"):
        config_for(**{"model.attention": "cosine"})


def test_the_context_feeding_decoder_is_the_default():
    assert TASK.model_config().feed_context is True


def test_the_demo_config_ships_a_search_space_with_the_attention_type():
    config = lifecycle.load_config(TASK, TASK.demo_config_path)
    assert "model.attention" in config.tuner.search_space
    multi30k = lifecycle.load_config(TASK, REPO / "configs" / "translation_multi30k.yaml")
    assert "model.attention" in multi30k.tuner.search_space
    assert (multi30k.data.source_lang, multi30k.data.target_lang) == ("de", "en")


@pytest.mark.parametrize("values, message", [
    ({"data.source_lang": "fr"},
     "'data.source_lang': 'fr' is ignored because .*pairs.tsv is one tab-separated file"),
    ({"data.path": "c.{lang}", "data.format": "parallel", "data.target_column": 2},
     r"'data.target_column': 2 is ignored because c.\{lang\} names two aligned files"),
])
def test_options_of_the_other_layout_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        config_for(**values)


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_fraction_of_a_split_read_from_its_own_file_is_refused(split):
    with pytest.raises(ConfigError) as error:
        config_for(**{f"data.{split}": f"{split}.tsv", f"data.{split}_fraction": 0.2})
    assert str(error.value) == (f"config key 'data.{split}_fraction': 0.2 is ignored because data.{split} "
                                f"names the {split} file; remove it (or change the setting that makes it "
                                "unused)")


def test_long_values_are_quoted_short_in_one_way():
    """A 5,000-character value is quoted as `common.config.shown` does (at most 200 characters), and a path
    named as the reason for another refusal is bounded the same way, without quotes."""
    with pytest.raises(ConfigError) as error:
        config_for(**{"data.source_lang": "x" * 5000, "data.target_lang": "x" * 5000})
    assert str(error.value) == ("config data: data.source_lang and data.target_lang are both "
                                f"{shown('x' * 5000)}; set them to the two languages")
    path = "p" * 5000 + ".{lang}"
    with pytest.raises(ConfigError) as error:
        config_for(**{"data.path": path, "data.format": "parallel", "data.target_column": 2})
    assert str(error.value) == (f"config key 'data.target_column': 2 is ignored because {shown(path)[1:-1]} "
                                "names two aligned files (format parallel): each line is one sentence, there "
                                "are no columns; remove it (or change the setting that makes it unused)")
    assert len(str(error.value)) < 400
