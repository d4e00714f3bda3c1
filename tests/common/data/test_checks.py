"""Refusing or flagging runs that would train on the wrong thing without an error (issue #34, item 4)."""
from dataclasses import dataclass

import pytest

from common.config import option
from common.data import checks
from common.errors import ConfigError, DataError


@dataclass
class Section:
    columns: list[str] = option([], "A list option.")
    column: str = option("text", "A string option.")


def test_a_changed_option_that_nothing_reads_is_refused_with_the_key_and_the_reason():
    with pytest.raises(ConfigError, match=r"^config key 'data.column': 'review' is ignored because format x "
                                          r"has no columns; remove it"):
        checks.ignored_options(Section(column="review"), ["column"], "format x has no columns")


def test_options_left_at_their_defaults_pass_even_when_unused():
    checks.ignored_options(Section(), ["columns", "column"], "nothing reads them")


def test_a_changed_list_option_is_refused_and_quoted_briefly():
    with pytest.raises(ConfigError, match=r"'model.columns': \['aaa") as caught:
        checks.ignored_options(Section(columns=["a" * 500]), ["columns"], "why", prefix="model")
    assert "a" * 201 not in str(caught.value) and "..." in str(caught.value)


def test_more_than_half_of_the_training_tokens_unknown_is_refused_with_the_share_and_the_knobs():
    with pytest.raises(DataError, match=r"^train.txt: 51% of the training tokens fall outside the "
                                        r"vocabulary.*relax data.min_freq$"):
        checks.check_training_unknowns(checks.unknown_share(51, 100), "train.txt", "data.min_freq")


def test_half_of_the_training_tokens_unknown_is_still_accepted():
    checks.check_training_unknowns(checks.unknown_share(50, 100), "train.txt", "data.min_freq")


def test_the_unknown_share_of_no_tokens_is_zero():
    assert checks.unknown_share(0, 0) == 0.0


def test_a_split_scored_mostly_on_unknown_tokens_is_warned_about_and_noted_in_the_report(capsys):
    info = {}
    checks.note_evaluated_unknowns(info, "test", 0.6, "perplexity")
    warning = capsys.readouterr().err
    assert warning.startswith("warning: 60% of the test tokens are unknown to the vocabulary; its perplexity")
    assert "not comparable" in info["test unknown tokens"]


def test_a_split_with_few_unknown_tokens_gets_no_note(capsys):
    info = {}
    checks.note_evaluated_unknowns(info, "test", 0.2, "perplexity")
    assert info == {} and capsys.readouterr().err == ""


def test_a_batch_larger_than_the_training_split_is_warned_about(capsys):
    checks.check_batch_size(64, 20, "examples", "d.csv")
    assert capsys.readouterr().err == ("warning: d.csv: train.batch_size 64 is larger than the 20 training "
                                       "examples, so every epoch is a single update step; lower "
                                       "train.batch_size\n")


def test_a_batch_as_large_as_the_training_split_is_fine(capsys):
    checks.check_batch_size(20, 20, "examples", "d.csv")
    assert capsys.readouterr().err == ""
