"""Classification metrics, all computed by scikit-learn so the figures match what users know.

Labels are passed as integer class ids together with the list of class names,
so a class that never occurs in a split still gets its row in the per-class
table and the confusion matrix (scikit-learn's ``labels=`` argument).
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def classification_metrics(y_true, y_pred, class_names, probabilities=None) -> dict:
    """Accuracy, macro and per-class precision/recall/F1, confusion matrix and (binary) ROC-AUC.

    Returns a flat dict of floats plus two nested entries: ``per_class``
    (``{class: {precision, recall, f1, support}}``) and ``confusion_matrix``
    (``{true_class: {predicted_class: count}}``). ``roc_auc`` is present only for
    two classes with both present in ``y_true`` and ``probabilities`` given
    (score of class 1).
    """
    y_true = np.asarray(y_true, dtype=int)
    y_pred = np.asarray(y_pred, dtype=int)
    ids = list(range(len(class_names)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=ids, zero_division=0)
    macro = skm.precision_recall_fscore_support(y_true, y_pred, labels=ids, average="macro",
                                                zero_division=0)
    matrix = skm.confusion_matrix(y_true, y_pred, labels=ids)
    out = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
    }
    if probabilities is not None and len(class_names) == 2 and len(set(y_true.tolist())) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, np.asarray(probabilities)[:, 1]))
    out["per_class"] = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(class_names)}
    out["confusion_matrix"] = confusion_dict(matrix, class_names)
    return out


def confusion_dict(matrix, class_names) -> dict:
    """``{true_class: {predicted_class: count}}``: readable in JSON, unambiguous about the axes."""
    return {t: {p: int(matrix[i][j]) for j, p in enumerate(class_names)}
            for i, t in enumerate(class_names)}


def confusion_array(confusion: dict, class_names) -> np.ndarray:
    """Back from `confusion_dict` to a ``[true, predicted]`` count array (for plotting)."""
    return np.array([[confusion[t][p] for p in class_names] for t in class_names], dtype=int)


def majority_baseline(train_ids, y_true, class_names) -> dict:
    """Scores of always predicting the most frequent training class (ties: the lowest id).

    The probabilities are the training class frequencies, so ROC-AUC of this
    constant scorer is 0.5 by construction.
    """
    counts = np.bincount(np.asarray(train_ids, dtype=int), minlength=len(class_names))
    majority = int(np.argmax(counts))
    y_true = np.asarray(y_true, dtype=int)
    priors = np.tile(counts / counts.sum(), (len(y_true), 1))
    return classification_metrics(y_true, np.full(len(y_true), majority), class_names, priors)
