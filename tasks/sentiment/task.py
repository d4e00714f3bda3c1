"""Sentiment (text) classification: raw strings in, a label and class probabilities out.

Data: CSV / TSV / JSON Lines with a text and a label column, or one plain file
of texts per label (``data.format: label_files`` with a ``{label}`` placeholder
in the path, e.g. rt-polarity's ``.pos`` / ``.neg``). Files the config does not
name are carved from ``data.path`` by a seeded stratified split (or a
cross-validation fold). The label set is learned from the training split.

Model: ``TextVectorization`` (inside the model, so the export takes raw
strings) -> ``mask_zero`` embedding (random or pretrained GloVe/word2vec) ->
the shared recurrent block -> last / max / mean / attention pooling -> dropout
-> softmax. Batches are padded only to their longest text and training batches
are grouped by length, so short texts cost short recurrences.
"""
from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.config import BaseDataConfig, option, section
from common.data.datasets import resolve
from common.data.vectors import load_vectors
from common.errors import ConfigError, DataError
from common.io import atomic_path
from common.layers.clip_sequence import ClipSequence
from common.layers.pooling import POOLING_MODES, pooling_layer
from common.layers.recurrent import RNNConfig, recurrent_block
from common.metrics.classification import (
    classification_metrics,
    confusion_array,
    majority_baseline,
)
from common.plots import save_attention_heatmap, save_confusion_matrix
from common.task import Demo, Prepared, Signature, Task
from tasks.sentiment import data as td
from tasks.sentiment import demo_data

STANDARDIZE = {"lower_and_strip_punctuation": "lower_and_strip_punctuation", "lower": "lower",
               "strip_punctuation": "strip_punctuation", "none": None}
TOKENIZERS = ("none", "treebank", "tweet")
LABEL_PLACEHOLDER = "{label}"
LENGTH_BUCKETS = [4, 8, 12, 16, 20, 25, 30, 40, 50, 70]  # whitespace tokens; bucket edges for batching


@dataclass
class SentimentDataConfig(BaseDataConfig):
    format: str = option("auto", "File layout: csv, tsv, jsonl (auto: from the file suffix), or label_files "
                         "(one plain file of texts per label; the path contains {label}, replaced by each "
                         "of data.label_names).", choices=["auto", "csv", "tsv", "jsonl", "label_files"])
    text_column: str = option("text", "Column (CSV/TSV header or JSON key) holding the text.")
    label_column: str = option("label", "Column holding the label (strings or integers).")
    label_names: list[str] = option([], "Labels for format label_files, e.g. [neg, pos] with path "
                                    "rt-polarity/rt-polarity.{label}.")
    encoding: str = option("utf-8", "Text encoding of the data files (rt-polarity: cp1252).")
    val_fraction: float = option(0.1, "Share of data.path carved out for validation (stratified, seeded) "
                                 "when data.val is not given.", min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path carved out for the test split when data.test is "
                                  "not given (ignored with data.folds).", min=0.0, max=0.9)
    folds: int | None = option(None, "k-fold cross-validation: the test split is fold data.fold of a "
                               "stratified k-fold split of data.path (null: no CV).", min=2)
    fold: int = option(0, "Which fold is the test split when data.folds is set (0-based).", min=0)
    empty_texts: str = option("drop", "Examples with an empty text: drop them with a counted warning, "
                              "or stop with an error.", choices=["drop", "error"])
    tokenizer: str = option("none", "Python-side NLTK tokenizer applied before the model (train and "
                            "predict; clients of the raw SavedModel must then tokenize alike): none, "
                            "treebank, tweet.", choices=list(TOKENIZERS))
    max_examples: int | None = option(None, "Use at most this many examples per split (seeded random "
                                      "subset; for quick tests).", min=1)

    def validate(self):
        if self.format == "label_files":
            if len(self.label_names) < 2:
                raise ConfigError("config key 'data.label_names': format label_files needs at least two "
                                  "labels, e.g. [neg, pos]")
            for key in ("path", "train", "val", "test"):
                value = getattr(self, key)
                if value is not None and LABEL_PLACEHOLDER not in value:
                    raise ConfigError(f"config key 'data.{key}': with format label_files the path must "
                                      f"contain {LABEL_PLACEHOLDER}, e.g. rt-polarity/rt-polarity.{{label}}")
        if self.folds is not None and self.path is None:
            raise ConfigError("config key 'data.folds': cross-validation splits data.path; set data.path "
                              "instead of data.train/val/test")
        if self.folds is not None and self.fold >= self.folds:
            raise ConfigError(f"config key 'data.fold': must be < data.folds ({self.folds}), got {self.fold}")
        if self.path is not None and self.train is not None:
            raise ConfigError("config data: set data.path (split by the task) or data.train, not both")


@dataclass
class SentimentModelConfig:
    max_tokens: int = option(20000, "Vocabulary size, including the padding and out-of-vocabulary tokens.",
                             min=3)
    max_length: int = option(64, "Texts are cut to this many tokens.", min=1)
    standardize: str = option("lower_and_strip_punctuation", "TextVectorization standardization.",
                              choices=list(STANDARDIZE))
    embedding_dim: int = option(128, "Word embedding size (must match pretrained_vectors if given).", min=1)
    pretrained_vectors: str | None = option(None, "GloVe/word2vec text file of word vectors (null: random "
                                            "initialisation).")
    vectors_encoding: str = option("utf-8", "Encoding of the pretrained vectors file.")
    trainable_embeddings: bool = option(True, "Fine-tune the embeddings (false: keep them frozen).")
    embedding_dropout: float = option(0.0, "Dropout on the word embeddings.", min=0.0, max=0.9)
    rnn: RNNConfig = section(RNNConfig, "Recurrent encoder.")
    pooling: str = option("last", "How the sequence becomes one vector: the RNN's final state (last), "
                          "max, mean or attention pooling over its outputs.", choices=list(POOLING_MODES))
    attention_units: int = option(64, "Hidden size of the attention scorer (pooling: attention).", min=1)
    hidden_units: int = option(0, "Optional dense ReLU layer before the classifier (0: none).", min=0)
    dropout: float = option(0.3, "Dropout before the classifier.", min=0.0, max=0.9)
    class_weights: str = option("none", "Weight the loss by inverse class frequency (balanced) for "
                                "imbalanced data.", choices=["none", "balanced"])


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _tokenize_fn(name: str):
    """NLTK tokenizers that need no downloaded data (no ``nltk.download`` at run time)."""
    if name == "none":
        return None
    if name == "treebank":
        from nltk.tokenize import TreebankWordTokenizer

        tokenize = TreebankWordTokenizer().tokenize
    else:
        from nltk.tokenize import TweetTokenizer

        tokenize = TweetTokenizer().tokenize
    return lambda text: " ".join(tokenize(text))


def _rows(texts, labels=None, weights=None):
    columns = [np.asarray(texts, dtype=object)]
    if labels is not None:
        columns.append(np.asarray(labels, dtype="int32"))
    if weights is not None:
        columns.append(np.asarray(weights, dtype="float32"))
    return tuple(columns)


def _by_length(texts):
    return np.argsort([len(t.split()) for t in texts], kind="stable")


class SentimentTask(Task):
    name = "sentiment"
    data_config = SentimentDataConfig
    model_config = SentimentModelConfig
    default_monitor = "val_accuracy"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = "Text classification (sentiment): raw text in, label and class probabilities out."

    # ---- data ----------------------------------------------------------------------------
    def _read(self, data, path_string: str) -> td.LabelledTexts:
        if data.format == "label_files":
            files = {label: resolve(path_string.replace(LABEL_PLACEHOLDER, label))
                     for label in data.label_names}
            return td.read_label_files(files, data.encoding)
        return td.read_labelled(resolve(path_string), data.text_column, data.label_column,
                                data.format, data.encoding)

    def _load_splits(self, config) -> dict[str, td.LabelledTexts]:
        """Named files win; whatever is not named is carved from data.path (stratified, seeded)."""
        data = config.data
        if data.path is None:
            return {split: self._read(data, getattr(data, split)) for split in ("train", "val", "test")}
        full = self._read(data, data.path)
        splits = {"val": self._read(data, data.val) if data.val else None,
                  "test": self._read(data, data.test) if data.test else None}
        if data.folds is not None:
            if data.test:
                raise ConfigError("config data: data.folds makes the test split from data.path; "
                                  "remove data.test or data.folds")
            rest, test = td.stratified_fold(full.labels, data.folds, data.fold, config.seed)
            splits["test"] = full.subset(test)
            full = full.subset(rest)
        test_fraction = 0.0 if splits["test"] is not None else data.test_fraction
        val_fraction = 0.0 if splits["val"] is not None else data.val_fraction
        train, val, test = td.stratified_split(full.labels, val_fraction, test_fraction, config.seed)
        splits["train"] = full.subset(train)
        splits["val"] = splits["val"] if splits["val"] is not None else full.subset(val)
        splits["test"] = splits["test"] if splits["test"] is not None else full.subset(test)
        for split in ("val", "test"):
            if not len(splits[split]):
                raise ConfigError(f"config data: the {split} split is empty; give data.{split} or a "
                                  f"positive data.{split}_fraction")
        return {k: splits[k] for k in ("train", "val", "test")}

    def _clean(self, config, splits) -> dict:
        """Empty-text policy, the optional NLTK tokenizer and the optional per-split cap."""
        data = config.data
        tokenize = _tokenize_fn(data.tokenizer)
        dropped = {}
        for split, examples in splits.items():
            kept, n_empty = examples.without_empty_texts()
            if n_empty:
                if data.empty_texts == "error":
                    first = next(s for s, t in zip(examples.sources, examples.texts) if not t.strip())
                    raise DataError(f"{first}: empty text in the {split} data ({n_empty} in all); remove "
                                    "them or set data.empty_texts: drop")
                _warn(f"dropped {n_empty} example(s) with an empty text from the {split} data "
                      "(data.empty_texts: drop)")
                dropped[split] = n_empty
            if tokenize is not None:
                kept.texts = [tokenize(t) for t in kept.texts]
            if data.max_examples is not None and len(kept) > data.max_examples:
                rng = np.random.default_rng(config.seed)
                kept = kept.subset(np.sort(rng.choice(len(kept), data.max_examples, replace=False)))
            if not len(kept):
                raise DataError(f"the {split} data has no examples with text")
            splits[split] = kept
        return dropped

    def _fit_vocabulary(self, config, texts) -> list[str]:
        layer = keras.layers.TextVectorization(max_tokens=config.model.max_tokens,
                                               standardize=STANDARDIZE[config.model.standardize])
        layer.adapt(tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(1024))
        return [str(token) for token in layer.get_vocabulary()]

    def prepare(self, config, state=None) -> Prepared:
        splits = self._load_splits(config)
        dropped = self._clean(config, splits)
        if state is None:
            labels = td.sorted_labels(splits["train"].labels)
            if len(labels) < 2:
                raise DataError(f"the training data has a single label ({labels[0]!r}); a classifier needs "
                                "at least two")
            state = {"labels": labels, "vocabulary": self._fit_vocabulary(config, splits["train"].texts)}
        labels = state["labels"]
        index = {label: i for i, label in enumerate(labels)}
        for split, examples in splits.items():  # train too: a saved state may predate changed data
            td.check_known_labels(examples, labels, split)
        arrays = {split: (ex.texts, np.array([index[y] for y in ex.labels], dtype="int32"))
                  for split, ex in splits.items()}
        batch = config.train.batch_size
        train_texts, train_ids = arrays["train"]
        weights = self._class_weights(config, train_ids, len(labels))
        train = self._length_bucketed(train_texts, _rows(train_texts, train_ids, weights), batch, config.seed)
        ordered = {split: tf.data.Dataset.from_tensor_slices(_rows(*arrays[split])).batch(batch)
                   .prefetch(tf.data.AUTOTUNE) for split in ("val", "test")}
        counts = {split: {label: int(np.sum(ids == i)) for i, label in enumerate(labels)}
                  for split, (_, ids) in arrays.items()}
        info = {"labels": ", ".join(labels),
                **{f"{split} examples": f"{len(arrays[split][0])} {counts[split]}" for split in arrays},
                "vocabulary": f"{len(state['vocabulary'])} tokens (max_tokens {config.model.max_tokens})"}
        if dropped:
            info["empty texts dropped"] = str(dropped)
        return Prepared(train=train, val=ordered["val"], test=ordered["test"], state=state, info=info,
                        extra={"arrays": arrays})

    @staticmethod
    def _length_bucketed(texts, rows, batch_size, seed):
        """Shuffled batches of texts of similar length (fewer padded steps), with a known batch count.

        Lengths are counted here in Python and travel with each example, so the
        number of batches (sum over buckets of ceil(size / batch)) is exact and
        Keras, progress bars and LR schedules see a dataset of known length.
        """
        lengths = np.array([len(t.split()) for t in texts], dtype="int32")
        bucket_sizes = np.bincount(np.searchsorted(LENGTH_BUCKETS, lengths, side="right"),
                                   minlength=len(LENGTH_BUCKETS) + 1)
        n_batches = int(np.sum(np.ceil(bucket_sizes / batch_size)))
        dataset = tf.data.Dataset.from_tensor_slices((*rows, lengths))
        dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.bucket_by_sequence_length(lambda *row: row[-1], LENGTH_BUCKETS,
                                                    [batch_size] * (len(LENGTH_BUCKETS) + 1))
        dataset = dataset.map(lambda *row: row[:-1])
        return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)

    @staticmethod
    def _class_weights(config, ids, n_classes):
        if config.model.class_weights == "none":
            return None
        counts = np.bincount(ids, minlength=n_classes).astype("float64")
        per_class = len(ids) / (n_classes * np.maximum(counts, 1))  # scikit-learn's "balanced" formula
        return per_class[ids]

    # ---- demo data -----------------------------------------------------------------------

    # ---- model ---------------------------------------------------------------------------
    def _embedding_matrix(self, config, prepared):
        m = config.model
        key = ("vectors", m.pretrained_vectors, m.embedding_dim)
        if key not in prepared.extra:
            vocabulary = prepared.state["vocabulary"]
            matrix, hits = load_vectors(resolve(m.pretrained_vectors), vocabulary, m.embedding_dim,
                                        encoding=m.vectors_encoding, seed=config.seed)
            prepared.extra[key] = matrix
            prepared.info["pretrained vectors"] = (f"{m.pretrained_vectors}: {hits} of {len(vocabulary)} "
                                                   "vocabulary tokens found")
        return prepared.extra[key]

    def build_model(self, config, prepared):
        m = config.model
        vocabulary = prepared.state["vocabulary"]
        n_classes = len(prepared.state["labels"])
        text = keras.Input(shape=(), dtype="string", name="text")
        ids = keras.layers.TextVectorization(standardize=STANDARDIZE[m.standardize], vocabulary=vocabulary,
                                             name="vectorize")(text)
        ids = ClipSequence(m.max_length, name="clip")(ids)
        embedding = keras.layers.Embedding(len(vocabulary), m.embedding_dim, mask_zero=True,
                                           trainable=m.trainable_embeddings, name="embedding")
        x = embedding(ids)
        if m.pretrained_vectors:
            # assigned, not a Constant initializer: that would copy the matrix into model.keras's config
            embedding.embeddings.assign(self._embedding_matrix(config, prepared))
        if m.embedding_dropout:
            x = keras.layers.Dropout(m.embedding_dropout, name="embedding_dropout")(x)
        if m.pooling == "last":
            x = recurrent_block(m.rnn, return_sequences=False)(x)
        else:
            x = recurrent_block(m.rnn, return_sequences=True)(x)
            x = pooling_layer(m.pooling, m.attention_units)(x)
        x = keras.layers.Dropout(m.dropout, name="dropout")(x)
        if m.hidden_units:
            x = keras.layers.Dense(m.hidden_units, activation="relu", name="hidden")(x)
            x = keras.layers.Dropout(m.dropout, name="hidden_dropout")(x)
        probabilities = keras.layers.Dense(n_classes, activation="softmax", dtype="float32",
                                           name="probabilities")(x)
        return keras.Model(text, probabilities, name="sentiment")

    def compile_args(self, config, prepared) -> dict:
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    # ---- evaluation ----------------------------------------------------------------------
    @staticmethod
    def predict_probabilities(model, texts, batch_size=256) -> np.ndarray:
        """Class probabilities in input order; batches are formed by length to pad little."""
        order = _by_length(texts)
        out = np.zeros((len(texts), model.output_shape[-1]), dtype="float32")
        for start in range(0, len(texts), batch_size):
            chunk = order[start:start + batch_size]
            out[chunk] = keras.ops.convert_to_numpy(
                model(tf.constant([texts[i] for i in chunk], dtype=tf.string), training=False))
        return out

    def evaluate(self, model, config, prepared, split, run) -> dict:
        texts, ids = prepared.extra["arrays"][split]
        labels = prepared.state["labels"]
        probabilities = self.predict_probabilities(model, texts, config.train.batch_size)
        predicted = probabilities.argmax(axis=1)
        metrics = classification_metrics(ids, predicted, labels, probabilities)
        metrics["examples"] = len(texts)
        save_confusion_matrix(confusion_array(metrics["confusion_matrix"], labels), labels,
                              run.plots_dir / f"confusion_matrix_{split}.png",
                              title=f"Confusion matrix ({split})")
        if config.model.pooling == "attention":
            self._plot_attention(model, prepared, texts, run.plots_dir, split)
        with atomic_path(run.path / f"predictions_{split}.csv") as tmp, \
                open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "predicted", "probability"])
            for text, true, guess, probs in zip(texts, ids, predicted, probabilities):
                writer.writerow([text, labels[true], labels[guess], f"{probs[guess]:.4f}"])
        return metrics

    @staticmethod
    def _plot_attention(model, prepared, texts, folder, split, examples=3):
        """Heatmaps of the attention pooling weights over the tokens of a few short texts."""
        pooling = model.get_layer("pooling")
        features = keras.Model(model.input, [model.get_layer("recurrent").output,
                                             model.get_layer("clip").output])
        vocabulary = prepared.state["vocabulary"]
        chosen = [t for t in texts if 3 <= len(t.split()) <= 25][:examples]
        for i, text in enumerate(chosen):
            states, ids = features(tf.constant([text]), training=False)
            ids = keras.ops.convert_to_numpy(ids)[0]
            weights = keras.ops.convert_to_numpy(pooling.attention_weights(states, ids[None, :] != 0))[0]
            valid = ids != 0
            save_attention_heatmap(weights[valid][None, :], [vocabulary[j] for j in ids[valid]], ["weight"],
                                   folder / f"attention_{split}_{i}.png", title="Attention pooling weights")

    def baselines(self, config, prepared, split) -> dict:
        """Majority class, and a TF-IDF (uni+bigram) logistic regression, both from scikit-learn."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        labels = prepared.state["labels"]
        train_texts, train_ids = prepared.extra["arrays"]["train"]
        texts, ids = prepared.extra["arrays"][split]

        def scalars(scores):
            return {k: v for k, v in scores.items() if isinstance(v, float)}

        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        classifier = LogisticRegression(max_iter=1000, C=4.0)
        classifier.fit(vectorizer.fit_transform(train_texts), train_ids)
        probs = np.zeros((len(texts), len(labels)))
        probs[:, classifier.classes_] = classifier.predict_proba(vectorizer.transform(texts))
        return {"majority": scalars(majority_baseline(train_ids, ids, labels)),
                "tfidf_logreg": scalars(classification_metrics(ids, probs.argmax(1), labels, probs))}

    def headline_metrics(self) -> list[str]:
        return ["accuracy", "macro_f1", "roc_auc"]

    # ---- export and predict --------------------------------------------------------------
    def serving_functions(self, model, config, prepared) -> dict:
        label_table = tf.constant(prepared.state["labels"])

        def serve(text):
            probabilities = tf.cast(model(text, training=False), tf.float32)
            label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
            return {"label": tf.gather(label_table, label_id), "label_id": label_id,
                    "probabilities": probabilities}

        return {"serving_default": Signature(serve, [tf.TensorSpec([None], tf.string, name="text")])}

    def serving_example(self, config, prepared) -> dict:
        texts = list(prepared.extra["arrays"]["test"][0][:3])
        long_text = "what a " + "truly " * 80 + "great film"  # longer than any max_length default
        return {"text": np.array(texts + ["", long_text], dtype=str)}  # unicode, not object: savez/JSON-able

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        """One text per line (``.txt`` or no suffix), or the text column of a CSV/TSV/JSONL file."""
        fmt = config.data.format if config.data.format in ("csv", "tsv", "jsonl") else "auto"
        texts = td.read_texts(input_path, config.data.text_column, fmt, config.data.encoding)
        tokenize = _tokenize_fn(config.data.tokenizer)
        model_texts = [tokenize(t) for t in texts] if tokenize else texts
        labels = state["labels"]
        rows, counts = [], {label: 0 for label in labels}
        for start in range(0, len(texts), 256):
            out = serve(text=tf.constant(model_texts[start:start + 256], dtype=tf.string))
            probs = out["probabilities"].numpy()
            for i, label in enumerate(out["label"].numpy()):
                label = label.decode("utf-8")
                counts[label] += 1
                rows.append([texts[start + i], label, f"{probs[i].max():.4f}"] +
                            [f"{p:.4f}" for p in probs[i]])
        output_path = Path(output_path)
        with atomic_path(output_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label", "probability"] + [f"p_{label}" for label in labels])
            writer.writerows(rows)
        summary = {"texts": len(texts), "empty texts": sum(1 for t in texts if not t.strip())}
        summary.update({f"predicted {label}": n for label, n in counts.items()})
        return summary


TASK = SentimentTask()
