"""Serving raw strings from the SavedModel, and predicting labels for a user's file through it."""
from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.data.batching import chunked
from common.io import atomic_path
from common.task import Signature
from tasks.sentiment import data as td
from tasks.sentiment.dataset import SentimentPrepared, tokenize_fn
from tasks.sentiment.model import predict_probabilities

PREDICT_BATCH = 256


def serving_functions(model, labels: list[str]) -> dict:
    label_table = tf.constant(labels)

    def serve(text):
        probabilities = tf.cast(model(text, training=False), tf.float32)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"label": tf.gather(label_table, label_id), "label_id": label_id,
                "probabilities": probabilities}

    return {"serving_default": Signature(serve, [tf.TensorSpec([None], tf.string, name="text")])}


def serving_example(prepared: SentimentPrepared) -> dict:
    """Three test texts, an empty one and one longer than any max_length default."""
    long_text = "what a " + "truly " * 80 + "great film"
    texts = list(prepared.texts["test"][:3]) + ["", long_text]
    return {"text": np.array(texts, dtype=str)}  # unicode, not object: savez/JSON-able


def reference_outputs(model, prepared: SentimentPrepared) -> dict:
    """The serving example's classes as ``evaluate`` finds them: `predict_probabilities` (the Keras model
    on the texts), the argmax, and its name from the state's label list."""
    example = serving_example(prepared)
    probabilities = predict_probabilities(model, example["text"].tolist())
    ids = probabilities.argmax(axis=1).astype(np.int32)
    labels = np.array([prepared.state["labels"][i] for i in ids], dtype=str)
    return {"serving_default": (example, {"label": labels, "label_id": ids, "probabilities": probabilities})}


def predict_file(serve, config, labels: list[str], input_path, output_path) -> dict:
    """One text per line (``.txt`` or no suffix), or the text column of a CSV/TSV/JSONL file.

    Texts stream through the model ``PREDICT_BATCH`` at a time (an input of any size, in any of these
    layouts, in bounded memory) into a temporary file that replaces ``output_path`` only once every row
    is done: a bad line anywhere leaves no partial output."""
    fmt = config.data.format if config.data.format in ("csv", "tsv", "jsonl") else "auto"
    texts = td.iter_texts(input_path, config.data.text_column, fmt, config.data.encoding)
    texts = itertools.chain([next(texts)], texts)  # a missing or empty input fails before any output exists
    tokenize = tokenize_fn(config.data.tokenizer)
    counts = {label: 0 for label in labels}
    n_texts = n_empty = 0
    with atomic_path(Path(output_path)) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "probability"] + [f"p_{label}" for label in labels])
        for chunk in chunked(texts, PREDICT_BATCH):
            model_texts = [tokenize(t) for t in chunk] if tokenize else chunk
            out = serve(text=tf.constant(model_texts, dtype=tf.string))
            probs = out["probabilities"].numpy()
            for text, label, p in zip(chunk, out["label"].numpy(), probs):
                label = label.decode("utf-8")
                counts[label] += 1
                writer.writerow([text, label, f"{p.max():.4f}"] + [f"{x:.4f}" for x in p])
            n_texts += len(chunk)
            n_empty += sum(1 for t in chunk if not t.strip())
    summary = {"texts": n_texts, "empty texts": n_empty}
    summary.update({f"predicted {label}": n for label, n in counts.items()})
    return summary


def export_formats(config) -> dict:
    """ONNX (any length) and LiteRT (ids padded to model.max_length, batch 1) of the recurrent
    classifier; not with the n-gram path, which reads the raw text rather than the token ids."""
    if config.model.ngrams:
        reason = "model.ngrams > 0: the n-gram path reads the raw text, not token ids"
        return {"onnx": reason, "litert": reason}
    return {"onnx": None, "litert": None}


def export_core(model, config, prepared: SentimentPrepared, fmt: str):
    """The numeric core of ``serving_default``: ``ids [batch, length]`` (int64 token ids as the model's
    ``TextVectorization`` and ``clip`` make them: 0 pads, 1 is out of vocabulary, at most
    model.max_length; LiteRT takes exactly max_length) -> ``probabilities [batch, classes]``; the label
    is their argmax's name in ``labels``."""
    import keras

    from common.export_formats import Core

    m, state = config.model, prepared.state
    core_model = keras.Model(model.get_layer("clip").output, model.output, name="sentiment_core")
    ids_model = keras.Model(model.input, model.get_layer("clip").output, name="sentiment_ids")

    def core(ids):
        return {"probabilities": tf.cast(core_model(ids, training=False), tf.float32)}

    texts = serving_example(prepared)["text"].tolist()
    ids = np.asarray(ids_model(tf.constant(texts, tf.string)), np.int64)[:, :m.max_length]
    example = np.zeros((len(ids), m.max_length), np.int64)
    example[:, :ids.shape[1]] = ids
    preprocessing = {
        "standardize": m.standardize, "split": "whitespace", "tokenizer": config.data.tokenizer,
        "vocabulary": list(state["vocabulary"]), "pad_id": 0, "oov_id": 1, "max_length": m.max_length,
        "labels": list(state["labels"]),
        "host": "ids: standardize each text by `standardize` (Keras TextVectorization's rule of that name; "
                "lower_and_split_punctuation: Unicode lowercase, then spaces around every character that is "
                "not a letter, digit, mark, '_' or whitespace), split on whitespace, map each token to its "
                "index in `vocabulary` (oov_id when absent), keep the first max_length, pad with pad_id; "
                "label = labels[argmax(probabilities)]. With tokenizer other than none, texts are first "
                "tokenized with NLTK's tokenizer of that name and joined by spaces, as for the SavedModel.",
    }
    return Core(core, [tf.TensorSpec([None, None], tf.int64, name="ids")], ["probabilities"], preprocessing,
                {"ids": example}, {"ids": [1, m.max_length]})
