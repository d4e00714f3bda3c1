"""The classifier's n-gram path (``model.ngrams``): NBSVM fitted on the training split, carried in the model.

When a run trains, the training texts' most frequent word n-grams, their naive-Bayes log-count ratios
and a logistic regression on the ratio-scaled indicators (NBSVM, as the `baselines` fit it) are fitted
here; the model then holds them (the n-grams in its ``TextVectorization``, ratios and weights in a
frozen `NaiveBayesLinear`), so evaluation and the export read them from the model, never from data.
The n-grams are counted by the same layer the model uses, so standardization and splitting are exactly
the model's. The recurrent path trains alone; `common.layers.blend` then weighs the two paths on the
validation split.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from scipy import sparse

from common.data.batching import by_length
from common.layers.blend import fit_blend
from tasks.sentiment.baselines import NBLogisticRegression
from tasks.sentiment.standardize import standardizer

BATCH = 1024


@dataclass
class NgramFeatures:
    """The fitted n-gram path: ``NaiveBayesLinear``'s weights, one column per class (two classes: column
    0 stays zero and column 1 holds the one classifier, so the logit difference is its decision value)."""

    vocabulary: list[str]  # most frequent first, without the out-of-vocabulary entry the layer adds
    ratios: np.ndarray  # [len(vocabulary) + 1, classes], row 0 (out of vocabulary) zero
    kernel: np.ndarray  # [len(vocabulary) + 1, classes]
    bias: np.ndarray  # [classes]

    def weights(self) -> list[np.ndarray]:
        """`NaiveBayesLinear`'s ratios, kernel and bias."""
        return [self.ratios, self.kernel, self.bias]


def ngram_layer(model_config, vocabulary=None, name=None) -> keras.layers.TextVectorization:
    """Binary indicators of the text's word 1..n-grams, as a sparse ``[batch, vocabulary + 1]`` tensor."""
    return keras.layers.TextVectorization(
        max_tokens=None if vocabulary is not None else model_config.ngram_max_tokens,
        standardize=standardizer(model_config.standardize), ngrams=model_config.ngrams,
        output_mode="multi_hot", sparse=True, vocabulary=vocabulary, name=name)


def fit_ngrams(model_config, texts: list[str], label_ids: np.ndarray, n_classes: int) -> NgramFeatures:
    """The ``model.ngram_max_tokens`` most frequent n-grams of the training texts and NBSVM on their
    binary indicators: per class (one-vs-rest; one classifier for two classes), the log-count ratios
    (add-one smoothed) and a logistic regression on the scaled indicators (`NBLogisticRegression`)."""
    layer = ngram_layer(model_config)
    layer.adapt(tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(BATCH))
    vocabulary = [str(token) for token in layer.get_vocabulary()[1:]]  # [0] is the OOV entry
    rows = []
    for start in range(0, len(texts), BATCH):
        x = layer(np.asarray(texts[start:start + BATCH], dtype=object))
        indices = x.indices.numpy()
        rows.append(sparse.csr_matrix((np.ones(len(indices), dtype="float32"), (indices[:, 0], indices[:, 1])),
                                      shape=tuple(int(d) for d in x.dense_shape.numpy())))
    x = sparse.vstack(rows).tocsr()[:, 1:]  # without column 0: out-of-vocabulary n-grams say nothing
    # Row 0 of each weight (the out-of-vocabulary column) stays zero.
    ratios, kernel = np.zeros((2, len(vocabulary) + 1, n_classes), "float32")
    bias = np.zeros(n_classes, "float32")
    for c in ([1] if n_classes == 2 else range(n_classes)):
        target = (label_ids == c).astype("int32")
        if target.min() == target.max():
            continue  # a class absent from (or alone in) the training texts: nothing to tell it apart
        fitted = NBLogisticRegression().fit(x, target)
        ratios[1:, c], kernel[1:, c] = fitted.r_, fitted.classifier_.coef_[0]
        bias[c] = fitted.classifier_.intercept_[0]
    return NgramFeatures(vocabulary, ratios, kernel, bias)


def fit_blend_weights(model, prepared) -> dict:
    """Weigh the recurrent and the n-gram path on the validation split (`fit_blend`), in place in the
    model's ``blend`` layer; returns the weights and each path's validation accuracy for the record."""
    logits = path_logits(model, prepared.texts["val"])
    labels = prepared.label_ids["val"]
    weights = fit_blend(logits, labels)
    model.get_layer("blend").blend_weights.assign(weights)
    blended = sum(w * z for w, z in zip(weights, logits))
    accuracy = {name: round(float(np.mean(z.argmax(1) == labels)), 5)
                for name, z in zip(PATHS + ("blend",), [*logits, blended])}
    return {"blend_weights": dict(zip(PATHS, (round(float(w), 4) for w in weights))),
            "val_accuracy": accuracy}


PATHS = ("recurrent", "ngrams")


def path_logits(model, texts: list[str]) -> list[np.ndarray]:
    """Each path's logits ``[len(texts), classes]`` (the blend's inputs), in input order."""
    paths = keras.Model(model.input, model.get_layer("blend").input)
    run = tf.function(lambda text: paths(text, training=False), input_signature=[tf.TensorSpec([None], tf.string)])

    def batch(chunk):
        return np.concatenate([keras.ops.convert_to_numpy(z) for z in run(tf.constant(chunk, tf.string))], 1)

    rows = np.array(by_length(texts, lambda text: len(text.split()), BATCH // 4, batch), dtype="float32")
    n_classes = rows.shape[1] // len(PATHS)
    return [rows[:, k * n_classes:(k + 1) * n_classes] for k in range(len(PATHS))]
