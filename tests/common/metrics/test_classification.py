"""Classification metrics against values worked out by hand."""
import pytest

from common.metrics.classification import classification_metrics, confusion_array, majority_baseline

NAMES = ["neg", "pos"]
# true:      neg neg neg pos pos
# predicted: neg pos neg pos neg   -> TN=2, FP=1, FN=1, TP=1
Y_TRUE = [0, 0, 0, 1, 1]
Y_PRED = [0, 1, 0, 1, 0]


def test_accuracy_is_the_share_of_correct_predictions():
    assert classification_metrics(Y_TRUE, Y_PRED, NAMES)["accuracy"] == pytest.approx(3 / 5)


def test_per_class_precision_recall_f1_and_support():
    per_class = classification_metrics(Y_TRUE, Y_PRED, NAMES)["per_class"]
    assert per_class["neg"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert per_class["pos"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2})


def test_macro_scores_are_unweighted_means_over_classes():
    scores = classification_metrics(Y_TRUE, Y_PRED, NAMES)
    assert scores["macro_precision"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_confusion_matrix_rows_are_true_classes_and_columns_predictions():
    confusion = classification_metrics(Y_TRUE, Y_PRED, NAMES)["confusion_matrix"]
    assert confusion == {"neg": {"neg": 2, "pos": 1}, "pos": {"neg": 1, "pos": 1}}
    assert confusion_array(confusion, NAMES).tolist() == [[2, 1], [1, 1]]


def test_roc_auc_for_binary_uses_the_positive_class_probability():
    # class-1 scores: positives 0.7 and 0.5 vs negatives 0.1, 0.6, 0.2 -> 5 of 6 pairs ranked right
    probs = [[0.9, 0.1], [0.4, 0.6], [0.8, 0.2], [0.3, 0.7], [0.5, 0.5]]
    scores = classification_metrics(Y_TRUE, Y_PRED, NAMES, probs)
    assert scores["roc_auc"] == pytest.approx(5 / 6)


def test_no_roc_auc_for_multiclass_or_without_probabilities():
    assert "roc_auc" not in classification_metrics(Y_TRUE, Y_PRED, NAMES)
    assert "roc_auc" not in classification_metrics([0, 1, 2], [0, 1, 2], ["a", "b", "c"], [[1, 0, 0]] * 3)


def test_a_class_absent_from_the_split_still_gets_a_row():
    scores = classification_metrics([0, 0], [0, 0], ["a", "b", "c"])
    assert scores["per_class"]["c"]["support"] == 0
    assert scores["confusion_matrix"]["c"] == {"a": 0, "b": 0, "c": 0}


def test_majority_baseline_predicts_the_most_frequent_training_class():
    scores = majority_baseline(train_ids=[1, 1, 0], y_true=Y_TRUE, class_names=NAMES)
    assert scores["accuracy"] == pytest.approx(2 / 5)  # always "pos"
    assert scores["per_class"]["neg"]["recall"] == 0.0
    assert scores["roc_auc"] == pytest.approx(0.5)


# true:      a a b b c
# predicted: a b b b a   -> a: P 1/2 R 1/2, b: P 2/3 R 1, c (never predicted): P 0 R 0
UNEVEN_TRUE, UNEVEN_PRED, UNEVEN_NAMES = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"]


def test_macro_precision_recall_and_f1_are_each_their_own_mean():
    scores = classification_metrics(UNEVEN_TRUE, UNEVEN_PRED, UNEVEN_NAMES)
    assert scores["macro_precision"] == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    assert scores["macro_recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert scores["macro_f1"] == pytest.approx((1 / 2 + 4 / 5 + 0) / 3)


def test_a_class_never_predicted_scores_zero_precision_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = classification_metrics(UNEVEN_TRUE, UNEVEN_PRED, UNEVEN_NAMES)
    assert scores["per_class"]["c"]["precision"] == 0.0
    assert scores["macro_precision"] == pytest.approx(7 / 18)


def test_macro_scores_average_over_every_class_even_one_absent_from_the_split():
    scores = classification_metrics([0, 0], [0, 0], ["a", "b", "c"])
    assert scores["macro_precision"] == pytest.approx(1 / 3)
    assert scores["macro_recall"] == pytest.approx(1 / 3)


def test_majority_baseline_keeps_a_column_for_a_class_missing_from_training():
    scores = majority_baseline(train_ids=[0, 0], y_true=[0, 1], class_names=NAMES)
    assert scores["accuracy"] == pytest.approx(1 / 2)
    assert scores["roc_auc"] == pytest.approx(0.5)
