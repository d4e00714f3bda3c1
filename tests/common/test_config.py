"""The typed config: validation at load time, overrides, round trips."""
import pytest

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError
from tasks.forecasting import TASK


def load(tmp_path, text, overrides=()):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return lifecycle.load_config(TASK, path, overrides)


def test_unknown_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'model.rnn.unit'; did you mean 'units'\?"):
        load(tmp_path, "data: {path: x.csv}\nmodel:\n  rnn: {unit: 3}\n")


def test_wrong_type_names_the_key_and_type(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'train.batch_size': expected int, got 'big'"):
        load(tmp_path, "data: {path: x.csv}\ntrain: {batch_size: big}\n")


def test_choices_are_listed(tmp_path):
    with pytest.raises(ConfigError, match="choose one of adam, adamw, rmsprop, sgd"):
        load(tmp_path, "data: {path: x.csv}\ntrain: {optimizer: lbfgs}\n")


def test_set_overrides_any_key_with_yaml_values(tmp_path):
    config = load(tmp_path, "data: {path: x.csv}\n", ["train.epochs=3", "data.target_columns=[a, b]",
                                                      "train.clipnorm=null"])
    assert config.train.epochs == 3 and config.data.target_columns == ["a", "b"]
    assert config.train.clipnorm is None


def test_set_without_equals_explains_the_form(tmp_path):
    with pytest.raises(ConfigError, match=r"expected key.path=value"):
        load(tmp_path, "data: {path: x.csv}\n", ["train.epochs"])


def test_a_config_for_another_task_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="this config is for task 'ner'"):
        load(tmp_path, "task: ner\n")


def test_data_needs_a_path_or_three_files(tmp_path):
    with pytest.raises(ConfigError, match=r"set data.val, data.test too"):
        load(tmp_path, "data: {train: a.csv}\n")


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:3: invalid YAML"):
        load(tmp_path, "data:\n  path: x\n bad: [\n")


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: nope.yaml"):
        lifecycle.load_config(TASK, "nope.yaml")


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = load(tmp_path, "data: {path: x.csv}\nseed: 7\n")
    cfg.save_yaml(cfg.to_dict(config), tmp_path / "saved.yaml")
    assert lifecycle.load_config(TASK, tmp_path / "saved.yaml") == config
