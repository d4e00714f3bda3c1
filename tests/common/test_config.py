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


# ---- limits (issue #34): size, aliases, nesting, repeated keys, long values ------------------------------
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))


def test_a_config_file_over_1_mb_is_refused_before_it_is_parsed(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, "name: " + "a" * 20_000_000 + "\n")
    assert str(exc.value) == (f"{tmp_path / 'c.yaml'}: 20000007 bytes; a config file has at most 1000000 "
                              "(a config is a few kilobytes: is this the data file?)")


def test_a_20_mb_set_item_is_refused_in_one_short_line(tmp_path):
    with pytest.raises(ConfigError, match=r"20000005 characters; a --set item has at most 1000000") as exc:
        load(tmp_path, "data: {path: x.csv}\n", ["name=" + "b" * 20_000_000])
    assert len(str(exc.value)) < 400 and "\n" not in str(exc.value)


def test_aliases_that_expand_past_the_limit_are_refused_without_building_them(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:4: invalid YAML \(aliases expand to more than 5000"):
        load(tmp_path, LAUGHS + "data: {path: x.csv}\n")


def test_an_alias_bomb_in_a_set_value_is_an_error_not_a_string(tmp_path):
    bomb = "{" + LAUGHS.strip().replace("\n", ", ") + "}"
    with pytest.raises(ConfigError, match=r"--set 'data': aliases expand to more than 5000 values"):
        load(tmp_path, "data: {path: x.csv}\n", ["data=" + bomb])


def test_a_recursive_alias_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:1: invalid YAML \(an alias refers to the value that"):
        load(tmp_path, "data: &d {path: x.csv, again: *d}\n")


def test_a_few_anchors_and_an_overridden_merge_key_still_load(tmp_path):
    config = load(tmp_path, "data: {path: x.csv}\ntrain: &t {epochs: 2, batch_size: 4}\n"
                            "tuner: {epochs: 5}\nmodel: {rnn: &r {units: 3}}\n", [])
    assert config.train.epochs == 2 and config.train.batch_size == 4 and config.model.rnn.units == 3
    data = cfg.parse_override("x={a: &a {epochs: 1, batch_size: 2}, b: {<<: *a, batch_size: 3}}")[1]
    assert data["b"] == {"epochs": 1, "batch_size": 3}


def test_values_nested_past_the_limit_are_refused_not_a_recursion_error(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:1: invalid YAML \(values nested more than 50 deep\)"):
        load(tmp_path, "data: " + "[" * 100_000)
    with pytest.raises(ConfigError, match=r"--set 'model': values nested more than 50 deep"):
        load(tmp_path, "data: {path: x.csv}\n", ["model=" + "{a: " * 100])


def test_a_document_of_more_than_20000_values_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:2: invalid YAML \(more than 20000 values"):
        load(tmp_path, "data: {path: x.csv}\nx: [" + "1, " * 30_000 + "]\n")


def test_an_integer_too_long_for_python_to_read_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml:2: invalid YAML \(an integer of 5000 digits; config "
                                          r"integers are at most 2147483647\)"):
        load(tmp_path, "data: {path: x.csv}\ntrain: {epochs: " + "9" * 5000 + "}\n")
    with pytest.raises(ConfigError, match=r"--set 'seed': an integer of 5000 digits"):
        load(tmp_path, "data: {path: x.csv}\n", ["seed=" + "9" * 5000])


def test_a_nul_character_names_its_line_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, "data: {path: x.csv}\nname: a\x00b\n")
    assert str(exc.value) == (f"{tmp_path / 'c.yaml'}:2: invalid YAML (character U+0000 is not allowed in "
                              "YAML (special characters are not allowed); remove it)")


def test_a_set_value_with_a_key_twice_is_refused_like_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"--set 'model': key 'units' appears twice \(first at column 2\); "
                                          "keep one of them"):
        load(tmp_path, "data: {path: x.csv}\n", ["model={units: 1, units: 2}"])


def test_the_last_of_two_sets_of_one_key_wins(tmp_path):
    config = load(tmp_path, "data: {path: x.csv}\n", ["train.epochs=3", "train.epochs=4"])
    assert config.train.epochs == 4


@pytest.mark.parametrize("item", ["train..epochs=3", "train.=3", ".epochs=3"])
def test_a_set_key_with_an_empty_part_is_refused(tmp_path, item):
    with pytest.raises(ConfigError, match=r"has an empty part; write key.path=value"):
        load(tmp_path, "data: {path: x.csv}\n", [item])


LONG = "x" * 1_000_000


@pytest.mark.parametrize("text, overrides", [
    (f"data: {{path: x.csv}}\ntrain: {{optimizer: {LONG[:900_000]}}}\n", []),  # a bad choice
    ("data: {path: x.csv}\n", [f"train.epochs={LONG[:900_000]}"]),  # the wrong type
    ("data: {path: x.csv}\n", [f"train.{LONG[:900_000]}=1"]),  # an unknown key
    ("data: {path: x.csv}\n", [f"model={LONG[:900_000]}"]),  # a section that is not a mapping
    ("data: {path: x.csv}\n", [f"model.rnn.cell=[{', '.join(['gru'] * 10_000)}]"]),  # a long list
    ("data: {path: x.csv}\n", [LONG[:900_000]]),  # no '='
    ("data: {path: x.csv}\n", [f"name=a/{LONG[:900_000]}"]),  # not a plain name
])
def test_an_error_quotes_at_most_about_200_characters_of_a_bad_value(tmp_path, text, overrides):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, text, overrides)
    message = str(exc.value)
    assert len(message) < 500 and "..." in message, message[:600]


@pytest.mark.parametrize("key, value, bound", [
    ("model.rnn.units", 10**9, 8192), ("train.batch_size", 10**12, 65536), ("train.epochs", 10**10, 100_000),
    ("data.lookback", 10**9, 100_000), ("model.rnn.layers", 10**6, 64), ("tuner.max_trials", 10**12, 100_000),
])
def test_a_size_key_past_its_bound_names_the_key_the_value_and_the_bound(tmp_path, key, value, bound):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, "data: {path: x.csv}\n", [f"{key}={value}"])
    assert str(exc.value) == (f"config key '{key}': must be <= {bound}, got {value} (a size this large would "
                              "exhaust the machine's memory or time)")


def test_a_size_at_its_bound_is_accepted(tmp_path):
    config = load(tmp_path, "data: {path: x.csv}\n", ["model.rnn.units=8192", "train.batch_size=65536"])
    assert config.model.rnn.units == 8192 and config.train.batch_size == 65536


def test_a_generation_length_is_bounded_as_a_length_not_as_a_vocabulary():
    from tasks.language_model import TASK as LM

    with pytest.raises(ConfigError, match=r"'model.generation.max_tokens': must be <= 100000"):
        cfg.from_dict(LM.config_class, {"data": {"path": "x.txt"},
                                        "model": {"generation": {"max_tokens": 200_000}}})
    config = cfg.from_dict(LM.config_class, {"data": {"path": "x.txt", "max_tokens": 200_000}})
    assert config.data.max_tokens == 200_000  # a vocabulary of 200000 words is fine


@pytest.mark.parametrize("key", ["seed", "train.early_stopping_patience"])
def test_an_integer_past_int32_is_refused(tmp_path, key):
    with pytest.raises(ConfigError, match=rf"config key '{key}': must be between -2147483647 and 2147483647, "
                                          r"got 5000000000$"):
        load(tmp_path, "data: {path: x.csv}\n", [f"{key}=5000000000"])


def test_a_run_name_longer_than_100_characters_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"config key 'name': 'a{101}' has 101 characters; a name has at "
                                          "most 100"):
        load(tmp_path, "data: {path: x.csv}\n", ["name=" + "a" * 101])
    assert load(tmp_path, "data: {path: x.csv}\n", ["name=" + "a" * 100]).name == "a" * 100


def test_shown_cuts_long_values_and_names_huge_integers():
    assert cfg.shown("abc") == "'abc'"
    assert len(cfg.shown("x" * 10_000)) <= 200 and "..." in cfg.shown("x" * 10_000)
    assert cfg.shown(10**5000) == "<an integer of about 5000 digits>"


def test_a_config_for_an_unknown_task_quotes_it_short_and_names_the_tasks(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, f"task: {'t' * 100_000}\n")
    assert str(exc.value) == (f"{tmp_path / 'c.yaml'}: this config is for task {cfg.shown('t' * 100_000)}, not "
                              "'forecasting'; set task to one of forecasting, ner, translation, sentiment, "
                              "language_model")


def test_a_config_whose_task_is_not_a_string_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"this config is for task \[1, 2\], not 'forecasting'; set task to"):
        load(tmp_path, "task: [1, 2]\n")


def test_differences_names_the_dotted_keys_that_changed_in_config_order(tmp_path):
    config = load(tmp_path, "data: {path: x.csv}\n")
    other = cfg.with_values(config, {"train.epochs": 7, "model.rnn.units": 3, "seed": 9})
    assert cfg.differences(config, other) == ["seed", "model.rnn.units", "train.epochs"]
    assert cfg.differences(config, config) == []


def test_shown_message_puts_another_errors_message_on_one_short_line_without_quoting_it_again():
    assert cfg.shown_message(ValueError("row 0: got 'a\\tb'\nsecond line")) == "row 0: got 'a\\tb' second line"
    assert len(cfg.shown_message("x" * 10_000)) == 200 and cfg.shown_message("x" * 10_000).endswith("...")


# ---- issue #34: every size a config chooses has a ceiling ---------------------------------------------
# Integer keys whose large values cost nothing (seeds, column numbers, thresholds, caps that only lower
# what is read, row counts the data file bounds, patience counters bounded by the epochs): the one list a
# new key joins instead of a bound.
HARMLESS = {"seed", "data.fold", "data.folds", "data.max_examples", "data.token_column", "data.tag_column",
            "data.source_column", "data.target_column", "data.min_freq", "data.max_split_tokens",
            "data.split_rows", "model.min_word_count", "model.generation.seed",
            "train.early_stopping_patience", "tuner.keep_best_trials"}
DATA = {"forecasting": "x.csv", "sentiment": "x.csv", "ner": "x.txt", "translation": "x.tsv",
        "language_model": "x.txt"}


def _integer_keys(cls, prefix=""):
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, tp = f"{prefix}{f.name}", hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _integer_keys(tp, f"{key}.")
        elif tp is int or int in typing.get_args(tp):
            yield key, typing.get_origin(tp) is list


def _nested(key, value):
    tree = {}
    node = tree
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return tree


@pytest.mark.parametrize("task_name", sorted(DATA))
def test_every_integer_key_that_sizes_memory_or_time_has_a_ceiling(task_name):
    """A billion units, rows, tokens or plots is accepted by a bare `min=1` and only fails (or runs for
    days) long after the config was checked; each such key must be refused at load time."""
    import importlib

    task = importlib.import_module(f"tasks.{task_name}").TASK
    unbounded = []
    for key, is_list in _integer_keys(task.config_class):
        if key in HARMLESS:
            continue
        raw = _nested(key, [10**9] if is_list else 10**9)
        raw.setdefault("data", {})["path"] = DATA[task_name]
        try:
            cfg.from_dict(task.config_class, raw)
        except ConfigError as exc:
            if f"config key '{key}': must be <=" in str(exc):
                continue
        unbounded.append(key)
    assert unbounded == []


@pytest.mark.parametrize("task_name, key, bound", [
    ("sentiment", "model.ngram_max_tokens", 10_000_000), ("translation", "model.attention_plots", 1_000),
    ("forecasting", "data.stride", 100_000), ("forecasting", "data.seasonal_period", 100_000),
    ("language_model", "model.generation.top_k", 10_000_000),
])
def test_the_sizes_bounded_in_the_sixth_round_refuse_one_past_their_bound(task_name, key, bound):
    import importlib

    task = importlib.import_module(f"tasks.{task_name}").TASK
    raw = _nested(key, bound + 1)
    raw.setdefault("data", {})["path"] = DATA[task_name]
    with pytest.raises(ConfigError) as exc:
        cfg.from_dict(task.config_class, raw)
    assert str(exc.value) == (f"config key '{key}': must be <= {bound}, got {bound + 1} (a size this large "
                              "would exhaust the machine's memory or time)")
    raw = _nested(key, bound)
    raw.setdefault("data", {})["path"] = DATA[task_name]
    if key == "model.ngram_max_tokens":
        raw["model"]["ngrams"] = 1  # else the key is refused as ignored
    assert cfg.get_path(cfg.from_dict(task.config_class, raw), key) == bound
