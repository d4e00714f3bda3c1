"""Config rules of the language-model task, checked when the config is loaded."""
import pytest

from common import lifecycle
from common.errors import ConfigError
from tasks.language_model import TASK


def load(*overrides):
    return lifecycle.load_config(TASK, TASK.demo_config_path, list(overrides))


def test_the_demo_config_loads():
    config = load()
    assert config.data.granularity == "word" and config.data.batching == "stream"


def test_a_bidirectional_language_model_is_refused():
    with pytest.raises(ConfigError, match="model.rnn.bidirectional.*left to right"):
        load("model.rnn.bidirectional=true")


def test_stream_batching_needs_one_device():
    with pytest.raises(ConfigError, match="train.distribution"):
        load("train.distribution=mirrored")


@pytest.mark.parametrize("override, key", [("model.generation.max_tokens=0", "model.generation.max_tokens"),
                                           ("model.generation.top_p=0", "model.generation.top_p"),
                                           ("model.generation.temperature=-1", "model.generation.temperature"),
                                           ("data.granularity=byte", "data.granularity"),
                                           ("data.bptt=1", "data.bptt")])
def test_out_of_range_settings_are_named(override, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        load(override)


def test_an_empty_validation_split_is_refused_at_load_time():
    with pytest.raises(ConfigError, match="the val split is empty"):
        load("data.val_fraction=0")


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_fraction_of_a_split_read_from_its_own_file_is_refused(split):
    with pytest.raises(ConfigError) as error:
        load(f"data.{split}={split}.txt", f"data.{split}_fraction=0.2")
    assert str(error.value) == (f"config key 'data.{split}_fraction': 0.2 is ignored because data.{split} "
                                f"names the {split} file; remove it (or change the setting that makes it "
                                "unused)")


def test_the_default_fractions_stay_accepted_beside_split_files():
    config = load("data.val=val.txt", "data.test=test.txt")
    assert (config.data.val, config.data.test) == ("val.txt", "test.txt")
