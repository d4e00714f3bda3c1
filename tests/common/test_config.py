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


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "nan"])
def test_non_finite_numbers_are_refused(tmp_path, value):
    with pytest.raises(ConfigError, match=r"config key 'train.learning_rate': must be a finite number"):
        load(tmp_path, "data: {path: x.csv}\n", [f"train.learning_rate={value}"])


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:4: invalid YAML \(key 'train' appears twice \(first at line 2\)"):
        load(tmp_path, "data: {path: x.csv}\ntrain: {epochs: 2}\nseed: 1\ntrain: {epochs: 3}\n")


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".hidden", ""])
def test_a_run_name_must_be_a_plain_name(tmp_path, name):
    with pytest.raises(ConfigError, match="config key 'name'"):
        load(tmp_path, "data: {path: x.csv}\n", [f"name={name}"])


def test_path_and_train_together_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="set data.path .* or data.train, not both"):
        load(tmp_path, "data: {path: x.csv, train: a.csv, val: b.csv, test: c.csv}\n")


def test_a_renamed_key_names_its_new_name():
    from dataclasses import dataclass
    from typing import ClassVar

    @dataclass
    class Section:
        RENAMED: ClassVar[dict] = {"old_width": "width"}
        width: int = cfg.option(3, "Width.")

    with pytest.raises(ConfigError, match="config key 'model.old_width' was renamed to 'model.width'"):
        cfg.from_dict(Section, {"old_width": 4}, prefix="model")


def test_a_config_without_a_data_section_still_checks_the_data_rule(tmp_path):
    with pytest.raises(ConfigError, match="set data.path .* or data.train, data.val and data.test"):
        load(tmp_path, "train: {epochs: 1}\n")


def test_a_given_key_is_checked_before_an_absent_section(tmp_path):
    with pytest.raises(ConfigError, match="config section 'train': expected a mapping"):
        load(tmp_path, "train: 5\n")


def test_a_config_path_that_is_a_folder_is_named(tmp_path):
    with pytest.raises(ConfigError, match="is a folder; give the YAML config file"):
        lifecycle.load_config(TASK, tmp_path)
