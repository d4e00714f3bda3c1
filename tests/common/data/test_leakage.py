"""The leakage guard: unlabelled text that holds the run's validation or test texts is refused."""
import pytest

from common.data.leakage import EvaluationIndex, check_disjoint, fingerprint, normalise
from common.errors import DataError

EVALUATION = {"val": ["a charming and affecting journey .", "the plot was dull"],
              "test": ["it 's not a great film", "unflinchingly bleak and desperate"]}


def numbered(*texts):
    return list(enumerate(texts, start=1))


def test_overlapping_text_is_refused_with_its_count_an_example_line_and_the_fix():
    extra = numbered("a general sentence about zebras", "The plot was dull.", "another unrelated line",
                     "Unflinchingly bleak and desperate", "the plot was dull")
    with pytest.raises(DataError) as error:
        check_disjoint("unlabelled.txt", extra, EvaluationIndex(EVALUATION))
    message = str(error.value)
    assert message.startswith("unlabelled.txt: 3 line(s) of model.pretraining.extra_text are texts of the "
                              "run's validation and test splits (e.g. line 2; 2 of its 4 evaluation texts)")
    assert "remove those lines from the file" in message and "\n" not in message


def test_disjoint_text_is_accepted():
    extra = numbered("the plot was not dull", "a charming journey", "it is not a great film at all")
    assert check_disjoint("unlabelled.txt", extra, EvaluationIndex(EVALUATION)) == 0


def test_case_spacing_and_punctuation_variants_are_one_text():
    assert normalise("It's  NOT a great\tfilm!") == "it s not a great film"
    assert normalise("it 's not a great film") == "it s not a great film"
    variant = "A charming, and affecting JOURNEY"
    assert fingerprint(variant) == fingerprint("a charming and affecting journey .")
    assert fingerprint("a charming and affecting journeys") != fingerprint("a charming and affecting")
    assert len(fingerprint("the plot was dull")) == 8


def test_lines_with_no_letter_or_digit_never_match():
    index = EvaluationIndex({"test": ["...", "the plot was dull"]})
    assert len(index) == 1
    assert check_disjoint("unlabelled.txt", numbered("!!!", "- - -", ""), index) == 0


def test_a_tolerated_share_is_one_warning_and_the_share_counts_every_file(capsys):
    index = EvaluationIndex(EVALUATION)  # 4 texts: a tolerance of 0.25 lets one through
    first = numbered("zebras", "the plot was dull", "THE PLOT WAS DULL")
    assert check_disjoint("first.txt", first, index, tolerance=0.25) == 2
    assert capsys.readouterr().err.startswith("warning: first.txt: 2 line(s)")
    with pytest.raises(DataError, match=r"second.txt: 1 line\(s\) .* test split \(e.g. line 1; 2 of its 4"):
        check_disjoint("second.txt", numbered("it's not a great film"), index, tolerance=0.25)
