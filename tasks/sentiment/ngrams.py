"""The classifier's n-gram path (``model.ngrams``): NBSVM fitted on the training split, carried in the model.

When a run trains, the training texts' most frequent word n-grams, their naive-Bayes log-count ratios
and a logistic regression on the ratio-scaled indicators (NBSVM, as the `baselines` fit it) are fitted
here; the model then holds them (the n-grams in its ``TextVectorization``, ratios and weights in a
frozen `NaiveBayesLinear`), so evaluation and the export read them from the model, never from data.
The n-grams are counted by the same layer the model uses, so standardization and splitting are exactly
the model's. The recurrent path trains alone; `common.layers.blend` then weighs the two paths on the
validation split.

With ``model.char_ngrams`` a second ``TextVectorization`` beside the first adds the character n-grams of
each (standardized, whitespace-split) word padded by a space, as scikit-learn's ``char_wb`` analyzer
makes them: a short sentence (MR, SST-2) rarely repeats a word n-gram, but "unwatchable" shares
" unw" and "able " with words seen in training. The split that makes them (`CharWordNgrams`) is a
registered object traced into the graph, so training, evaluation and the export compute the same features.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
    0 stays zero and column 1 holds the one classifier, so the logit difference is its decision value).
    Rows: the word n-grams' layer output (out of vocabulary, then ``vocabulary``), then with
    ``model.char_ngrams`` the character n-grams' (out of vocabulary, then ``char_vocabulary``)."""

    vocabulary: list[str]  # most frequent first, without the out-of-vocabulary entry the layer adds
    ratios: np.ndarray  # [features, classes], each out-of-vocabulary row zero
    kernel: np.ndarray  # [features, classes]
    bias: np.ndarray  # [classes]
    char_vocabulary: list[str] = field(default_factory=list)  # likewise; empty without model.char_ngrams

    def weights(self) -> list[np.ndarray]:
        """`NaiveBayesLinear`'s ratios, kernel and bias."""
        return [self.ratios, self.kernel, self.bias]


def ngram_layer(model_config, vocabulary=None, name=None) -> keras.layers.TextVectorization:
    """Binary indicators of the text's word 1..n-grams, as a sparse ``[batch, vocabulary + 1]`` tensor."""
    return keras.layers.TextVectorization(
        max_tokens=None if vocabulary is not None else model_config.ngram_max_tokens,
        standardize=standardizer(model_config.standardize), ngrams=model_config.ngrams,
        output_mode="multi_hot", sparse=True, vocabulary=vocabulary, name=name)


@keras.saving.register_keras_serializable(package="rnnsuite")
class CharWordNgrams:
    """``TextVectorization``'s ``split`` for character n-grams within words: ``[batch]`` standardized
    strings -> ``[batch, None]`` ragged n-grams. Like scikit-learn's ``char_wb``: each whitespace-separated
    word gets a space on either side and yields its ``min_n``..``max_n``-character substrings; a padded word
    shorter than ``min_n`` yields itself whole. A class with a config, not a function, so a saved model
    remembers the range."""

    def __init__(self, min_n: int, max_n: int):
        self.min_n, self.max_n = int(min_n), int(max_n)

    def __call__(self, texts):
        words = tf.strings.split(texts)  # [batch, words]
        chars = tf.strings.unicode_split(" " + words + " ", "UTF-8")  # [batch, words, characters]
        grams = tf.strings.ngrams(chars, tuple(range(self.min_n, self.max_n + 1)), separator="",
                                  preserve_short_sequences=True)
        return grams.merge_dims(1, 2)

    def get_config(self) -> dict:
        return {"min_n": self.min_n, "max_n": self.max_n}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def char_ngram_layer(model_config, vocabulary=None, name=None) -> keras.layers.TextVectorization:
    """Binary indicators of the text's character n-grams within words (``model.char_ngrams``), as a sparse
    ``[batch, vocabulary + 1]`` tensor; standardized as the word n-grams are."""
    return keras.layers.TextVectorization(
        max_tokens=None if vocabulary is not None else model_config.ngram_max_tokens,
        standardize=standardizer(model_config.standardize), split=CharWordNgrams(*model_config.char_ngrams),
        output_mode="multi_hot", sparse=True, vocabulary=vocabulary, name=name)


def fit_ngrams(model_config, texts: list[str], label_ids: np.ndarray, n_classes: int) -> NgramFeatures:
    """The ``model.ngram_max_tokens`` most frequent n-grams of the training texts (and as many character
    n-grams with ``model.char_ngrams``) and NBSVM on their binary indicators: per class (one-vs-rest; one
    classifier for two classes), the log-count ratios (add-one smoothed) and a logistic regression on the
    scaled indicators (`NBLogisticRegression`)."""
    layers = [ngram_layer(model_config)]
    if model_config.char_ngrams:
        layers.append(char_ngram_layer(model_config))
    vocabularies, blocks = zip(*(_adapted_indicators(layer, texts) for layer in layers))
    x = sparse.hstack(blocks).tocsr()
    # Each layer's column 0 (out of vocabulary) is left out of the fit, and its weight rows stay zero:
    # n-grams unseen in training say nothing.
    sizes = [len(vocabulary) + 1 for vocabulary in vocabularies]
    starts = np.cumsum([0] + sizes[:-1])
    fitted_rows = np.concatenate([start + np.arange(1, size) for start, size in zip(starts, sizes)])
    ratios, kernel = np.zeros((2, sum(sizes), n_classes), "float32")
    bias = np.zeros(n_classes, "float32")
    for c in ([1] if n_classes == 2 else range(n_classes)):
        target = (label_ids == c).astype("int32")
        if target.min() == target.max():
            continue  # a class absent from (or alone in) the training texts: nothing to tell it apart
        fitted = NBLogisticRegression().fit(x, target)
        ratios[fitted_rows, c], kernel[fitted_rows, c] = fitted.r_, fitted.classifier_.coef_[0]
        bias[c] = fitted.classifier_.intercept_[0]
    return NgramFeatures(vocabularies[0], ratios, kernel, bias, *vocabularies[1:])


def _adapted_indicators(layer, texts: list[str]) -> tuple[list[str], sparse.csr_matrix]:
    """``layer`` adapted to ``texts``: its vocabulary (without the out-of-vocabulary entry) and the texts'
    indicators ``[len(texts), len(vocabulary)]`` (without the out-of-vocabulary column)."""
    layer.adapt(tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(BATCH))
    vocabulary = [str(token) for token in layer.get_vocabulary()[1:]]  # [0] is the OOV entry
    rows = []
    for start in range(0, len(texts), BATCH):
        x = layer(np.asarray(texts[start:start + BATCH], dtype=object))
        indices = x.indices.numpy()
        rows.append(sparse.csr_matrix((np.ones(len(indices), dtype="float32"), (indices[:, 0], indices[:, 1])),
                                      shape=tuple(int(d) for d in x.dense_shape.numpy())))
    return vocabulary, sparse.vstack(rows).tocsr()[:, 1:]


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
