"""From the config's files to batched tf.data splits: load, split, clean, fit the label set and vocabulary.

Files the config does not name are carved from ``data.path`` by a seeded
stratified split (or a cross-validation fold). Training batches are grouped by
length and padded only to their longest text, so short texts cost short
recurrences; validation and test batches keep the file order.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from common.data.checks import check_batch_size, check_training_unknowns, unknown_share
from common.data.datasets import resolve_all, substitute
from common.data.split import SPLITS, seeded_subset, stratified_fold, stratified_split
from common.data.vectors import pretrained_embeddings
from common.errors import DataError, warn
from common.pretrained import PretrainedEncoder
from common.progress import progress
from common.task import Prepared
from tasks.sentiment import data as td
from tasks.sentiment.config import LABEL_PLACEHOLDER
from tasks.sentiment.ngrams import NgramFeatures, fit_ngrams
from tasks.sentiment.standardize import standardizer

# Whitespace tokens; bucket edges for batching. Sentences fill the first ten, documents (IMDB reviews average
# 230 words) the geometric rest, so a batch of short reviews is not padded to the longest one's length.
LENGTH_BUCKETS = [4, 8, 12, 16, 20, 25, 30, 40, 50, 70, 100, 140, 200, 280, 400, 560, 800]


@dataclass(kw_only=True)
class SentimentPrepared(Prepared):
    """The batched splits plus what evaluation, the baselines and the serving example read directly."""

    texts: dict[str, list[str]]  # per split, cleaned (and tokenized) as the model reads them
    label_ids: dict[str, np.ndarray]  # per split, int32 indices into state["labels"]
    embedding_matrix: np.ndarray | None = None  # pretrained vectors, one row per vocabulary token
    encoder: PretrainedEncoder | None = None  # language-model weights for the embedding and encoder
    ngrams: NgramFeatures | None = None  # the n-gram path (NBSVM), fitted when a run trains


def tokenize_fn(name: str):
    """NLTK tokenizers that need no downloaded data (no ``nltk.download`` at run time); None for none."""
    if name == "none":
        return None
    if name == "treebank":
        from nltk.tokenize import TreebankWordTokenizer

        tokenize = TreebankWordTokenizer().tokenize
    else:
        from nltk.tokenize import TweetTokenizer

        tokenize = TweetTokenizer().tokenize
    return lambda text: " ".join(tokenize(text))


def read_split(data, path_string) -> td.LabelledTexts:
    """The examples of a split's file, or of its shards in order (a glob or a list; each shard is a whole
    file with its own header, so every message names the shard and its line)."""
    if data.format == "label_files":
        files = {label: resolve_all(substitute(path_string, LABEL_PLACEHOLDER, label))
                 for label in data.label_names}
        return td.read_label_files(files, data.encoding)
    return td.joined([td.read_labelled(path, data.text_column, data.label_column, data.format, data.encoding)
                      for path in resolve_all(path_string)])


def load_splits(config) -> dict[str, td.LabelledTexts]:
    """Named files win; whatever is not named is carved from data.path (stratified, seeded)."""
    data = config.data
    if data.path is None:
        splits = {split: read_split(data, getattr(data, split)) for split in SPLITS}
        check_label_column(data, splits["train"])
        return splits
    full = read_split(data, data.path)
    check_label_column(data, full)
    source = source_files(full)
    if len(set(full.labels)) < 2:
        raise DataError(f"{source}: every example has the label {full.labels[0]!r}; a classifier needs "
                        "examples of at least two labels")
    splits = {"val": read_split(data, data.val) if data.val else None,
              "test": read_split(data, data.test) if data.test else None}
    if data.folds is not None:
        rest, test = stratified_fold(full.labels, data.folds, data.fold, config.seed, source)
        splits["test"] = full.subset(test)
        full = full.subset(rest)
    test_fraction = 0.0 if splits["test"] is not None else data.test_fraction
    val_fraction = 0.0 if splits["val"] is not None else data.val_fraction
    train, val, test = stratified_split(full.labels, val_fraction, test_fraction, config.seed, source)
    splits["train"] = full.subset(train)
    splits["val"] = splits["val"] if splits["val"] is not None else full.subset(val)
    splits["test"] = splits["test"] if splits["test"] is not None else full.subset(test)
    return {split: splits[split] for split in SPLITS}


def check_label_column(data, examples: td.LabelledTexts) -> None:
    """Labels that look like texts or ids mean data.label_column names the wrong column: a classifier
    would then learn one class per example (or a few stray classes) without any error."""
    if data.format == "label_files" or len(examples) < 5:
        return
    counts = Counter(examples.labels)
    column = f"data.label_column {data.label_column[:200]!r}"
    if len(counts) == len(examples):
        shown = ", ".join(repr(label[:40]) for label in examples.labels[:3])
        raise DataError(f"{source_files(examples)}: every one of the {len(examples)} labels is different "
                        f"({shown}, ...), so {column} looks like a text or id column, not classes; set "
                        "data.label_column to the column of class labels")
    repeated = sum(n for n in counts.values() if n > 1)
    for label, source in zip(examples.labels, examples.sources):
        if counts[label] == 1 and len(label.split()) > 1 and repeated >= 0.8 * len(examples):
            common = ", ".join(sorted(counts, key=counts.get)[-3:])
            raise DataError(f"{source}: the label {label[:200]!r} has several words and occurs only here "
                            f"while the other labels are classes ({common}); are the text and label swapped "
                            "or a field unquoted on this line?")
    if len(counts) > len(examples) / 2:
        warn(f"{source_files(examples)}: {len(counts)} different labels in {len(examples)} examples; is "
             f"{column} the column of class labels?")


def source_files(examples: td.LabelledTexts) -> str:
    """The file(s) the examples came from (``sources`` are ``file:line``), for messages."""
    files = dict.fromkeys(source.rsplit(":", 1)[0] for source in examples.sources)
    return ", ".join(files) or "the data"


def clean(config, splits: dict[str, td.LabelledTexts]) -> dict[str, int]:
    """Empty-text policy, the optional NLTK tokenizer and the optional per-split cap, in place;
    returns how many empty texts each split dropped."""
    data = config.data
    tokenize = tokenize_fn(data.tokenizer)
    dropped = {}
    for split, examples in splits.items():
        kept, n_empty = examples.without_empty_texts()
        if n_empty:
            if data.empty_texts == "error":
                first = next(s for s, t in zip(examples.sources, examples.texts) if not t.strip())
                raise DataError(f"{first}: empty text in the {split} data ({n_empty} in all); remove "
                                "them or set data.empty_texts: drop")
            warn(f"dropped {n_empty} example(s) with an empty text from the {split} data "
                 "(data.empty_texts: drop)")
            dropped[split] = n_empty
        if tokenize is not None:
            kept.texts = [tokenize(t) for t in kept.texts]
        kept = kept.subset(seeded_subset(len(kept), data.max_examples, config.seed))
        if not len(kept):
            raise DataError(f"{source_files(examples)}: the {split} data has no examples with text (every "
                            "text is empty)")
        splits[split] = kept
    return dropped


def fit_vocabulary(config, texts) -> list[str]:
    layer = keras.layers.TextVectorization(max_tokens=config.model.max_tokens,
                                           standardize=standardizer(config.model.standardize))
    layer.adapt(tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(1024))
    return [str(token) for token in layer.get_vocabulary()]


def fit_state(config, train: td.LabelledTexts) -> dict:
    """The label set and vocabulary, fitted on the training split only."""
    labels = td.sorted_labels(train.labels)
    if len(labels) < 2:
        raise DataError(f"{source_files(train)}: the training data has a single label ({labels[0]!r}); a "
                        "classifier needs examples of at least two labels")
    vocabulary = fit_vocabulary(config, train.texts)
    check_training_unknowns(training_unknown_share(config, train.texts, vocabulary), source_files(train),
                            f"model.max_tokens ({config.model.max_tokens})")
    return {"labels": labels, "vocabulary": vocabulary}


def training_unknown_share(config, texts, vocabulary) -> float:
    """Share of the training tokens the model reads as out-of-vocabulary (id 1), counted with the same
    layer the model uses, so standardization and splitting are exactly the model's."""
    layer = keras.layers.TextVectorization(standardize=standardizer(config.model.standardize),
                                           vocabulary=vocabulary)
    unknown = tokens = 0
    with progress("vocabulary check", total=len(texts), unit="texts") as bar:
        for start in range(0, len(texts), 1024):
            ids = layer(np.asarray(texts[start:start + 1024], dtype=object)).numpy()
            unknown += int(np.sum(ids == 1))
            tokens += int(np.sum(ids > 0))
            bar.update(len(ids))
    return unknown_share(unknown, tokens)


def prepare(config, state: dict | None = None) -> SentimentPrepared:
    splits = load_splits(config)
    dropped = clean(config, splits)
    fitting = state is None
    if fitting:
        state = fit_state(config, splits["train"])
    labels = state["labels"]
    index = {label: i for i, label in enumerate(labels)}
    for split, examples in splits.items():  # train too: a saved state may predate changed data
        td.check_known_labels(examples, labels, split)
    texts = {split: examples.texts for split, examples in splits.items()}
    label_ids = {split: np.array([index[y] for y in examples.labels], dtype="int32")
                 for split, examples in splits.items()}
    batch = config.train.batch_size
    check_batch_size(batch, len(texts["train"]), "examples", source_files(splits["train"]))
    weights = class_weights(config, label_ids["train"], len(labels))
    train = length_bucketed(texts["train"], rows(texts["train"], label_ids["train"], weights), batch,
                            config.seed)
    ordered = {split: tf.data.Dataset.from_tensor_slices(rows(texts[split], label_ids[split])).batch(batch)
               .prefetch(tf.data.AUTOTUNE) for split in ("val", "test")}
    counts = {split: {label: int(np.sum(ids == i)) for i, label in enumerate(labels)}
              for split, ids in label_ids.items()}
    info = {"labels": ", ".join(labels),
            **{f"{split} examples": f"{len(texts[split])} {counts[split]}" for split in SPLITS},
            "vocabulary": f"{len(state['vocabulary'])} tokens (max_tokens {config.model.max_tokens})"}
    if dropped:
        info["empty texts dropped"] = str(dropped)
    matrix = None
    m = config.model
    if m.pretrained_vectors:
        matrix, info["pretrained vectors"] = pretrained_embeddings(
            m.pretrained_vectors, state["vocabulary"], m.embedding_dim, m.vectors_encoding, config.seed)
    ngrams = None
    if m.ngrams and fitting:  # a trained model holds its n-grams and ratios; only training fits them
        ngrams = fit_ngrams(m, texts["train"], label_ids["train"], len(labels))
        chars = (f" + {len(ngrams.char_vocabulary)} character {m.char_ngrams[0]}-{m.char_ngrams[1]}-grams "
                 "within words" if m.char_ngrams else "")
        info["n-gram path"] = (f"NBSVM on {len(ngrams.vocabulary)} word 1-{m.ngrams}-grams{chars} "
                               f"(model.ngram_max_tokens {m.ngram_max_tokens})")
    return SentimentPrepared(train=train, val=ordered["val"], test=ordered["test"], state=state, info=info,
                             texts=texts, label_ids=label_ids, embedding_matrix=matrix, ngrams=ngrams)


def rows(texts, labels=None, weights=None) -> tuple:
    """The columns of one split as arrays tf.data can slice: texts, then label ids and weights if given."""
    columns = [np.asarray(texts, dtype=object)]
    if labels is not None:
        columns.append(np.asarray(labels, dtype="int32"))
    if weights is not None:
        columns.append(np.asarray(weights, dtype="float32"))
    return tuple(columns)


def length_bucketed(texts, columns, batch_size, seed):
    """Shuffled batches of texts of similar length (fewer padded steps), with a known batch count.

    Lengths are counted here in Python and travel with each example, so the
    number of batches (sum over buckets of ceil(size / batch)) is exact and
    Keras, progress bars and LR schedules see a dataset of known length.
    """
    lengths = np.array([len(t.split()) for t in texts], dtype="int32")
    bucket_sizes = np.bincount(np.searchsorted(LENGTH_BUCKETS, lengths, side="right"),
                               minlength=len(LENGTH_BUCKETS) + 1)
    n_batches = int(np.sum(np.ceil(bucket_sizes / batch_size)))
    dataset = tf.data.Dataset.from_tensor_slices((*columns, lengths))
    dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.bucket_by_sequence_length(lambda *row: row[-1], LENGTH_BUCKETS,
                                                [batch_size] * (len(LENGTH_BUCKETS) + 1))
    dataset = dataset.map(lambda *row: row[:-1])
    return dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)


def class_weights(config, ids, n_classes):
    """Per-example loss weights for ``class_weights: balanced`` (None: unweighted)."""
    if config.model.class_weights == "none":
        return None
    counts = np.bincount(ids, minlength=n_classes).astype("float64")
    per_class = len(ids) / (n_classes * np.maximum(counts, 1))  # scikit-learn's "balanced" formula
    return per_class[ids]
