"""The data and model config sections refuse bad combinations at load time, naming the key."""
import pytest

from common.errors import ConfigError
from tests.tasks.sentiment.helpers import load


@pytest.mark.parametrize("overrides, message", [
    ({"data.format": "label_files", "data.path": "r.{label}"}, "data.label_names': format label_files"),
    ({"data.format": "label_files", "data.label_names": "[a, b]", "data.path": "r.pos"},
     "must contain {label}"),
    ({"data.folds": 5, "data.fold": 5}, "data.fold': must be < data.folds"),
    ({"data.folds": 5, "data.test": "t.csv"}, "data.folds makes the test split from data.path"),
    ({"data.val_fraction": 0}, "the val split is empty; give data.val or a positive data.val_fraction"),
    ({"data.test_fraction": 0}, "the test split is empty; give data.test or a positive data.test_fraction"),
    ({"data.train": "t.csv"}, "set data.path .* or data.train, not both"),
    ({"model.pooling": "median"}, "'median' is not allowed; choose one of last, max, mean, max_mean, attention"),
    ({"model.ngrams": 3, "model.char_ngrams": "[5, 2]"},
     "'model.char_ngrams': expected [min, max] with min <= max, e.g. [2, 5], got [5, 2]"),
    ({"model.ngrams": 3, "model.char_ngrams": "[3]"}, "'model.char_ngrams': expected [min, max] .* got [3]"),
    ({"model.ngrams": 3, "model.char_ngrams": "[0, 3]"}, "'model.char_ngrams': must be >= 1, got 0"),
    ({"model.char_ngrams": "[2, 5]"}, "'model.char_ngrams': [2, 5] is ignored because model.ngrams is 0"),
])
def test_bad_config_is_refused_with_the_key_named(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")
                       .replace("(", r"\(").replace("[", r"\[")):
        load(overrides)


def test_a_zero_fraction_is_fine_when_the_split_has_its_own_file():
    config = load({"data.test": "t.csv", "data.test_fraction": 0})
    assert config.data.test == "t.csv"


def test_folds_take_the_place_of_the_test_fraction():
    assert load({"data.folds": 10, "data.fold": 9, "data.test_fraction": 0}).data.folds == 10


def test_the_same_file_layout_rule_as_every_task():
    with pytest.raises(ConfigError, match="set data.test too, or use data.path"):
        load({"data.path": "null", "data.train": "a.csv", "data.val": "b.csv"})


@pytest.mark.parametrize("overrides, message", [
    ({"data.label_column": "text"}, "data.text_column and data.label_column are both 'text'"),
    ({"data.format": "label_files", "data.label_names": "[a, b]", "data.path": "r.{label}",
      "data.text_column": "review"}, "'data.text_column': 'review' is ignored because format label_files"),
    ({"data.format": "label_files", "data.label_names": "[a, b]", "data.path": "r.{label}",
      "data.label_column": "y"}, "'data.label_column': 'y' is ignored because format label_files"),
    ({"data.label_names": "[a, b]"}, "'data.label_names': ['a', 'b'] is ignored because data.format is auto"),
    ({"data.fold": 1}, "'data.fold': 1 is ignored because data.folds is not set"),
    ({"data.test": "t.csv", "data.test_fraction": 0.2}, "'data.test_fraction': 0.2 is ignored because data.test "
     "names the test file"),
    ({"data.val": "v.csv", "data.val_fraction": 0.3}, "'data.val_fraction': 0.3 is ignored because data.val "
     "names the val file"),
])
def test_a_setup_that_would_train_on_the_wrong_thing_is_refused(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load(overrides)


def test_character_n_grams_of_one_length_are_a_range_of_one():
    assert load({"model.ngrams": 1, "model.char_ngrams": "[3, 3]"}).model.char_ngrams == [3, 3]
