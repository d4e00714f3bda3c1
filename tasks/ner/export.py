"""The exported tagger and batch prediction with it.

The serving functions take raw token strings (or whitespace-tokenised sentences)
and return tags in the data's scheme, converted inside the graph, so the
SavedModel needs only TensorFlow. ``serving_default`` mirrors its padded
``tokens`` input (a padding token gets the tag ""); ``sentences`` takes one string
per sentence and answers one string per sentence, its tokens and its tags each
joined by single spaces: a signature's outputs are dense, so per-token lists
would pad every sentence to the batch's longest, and an empty sentence would come
back with padding tags instead of none. ``predict_file`` reads raw text, CoNLL or JSON
Lines and writes CoNLL plus a JSON Lines file of the entities found.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.data.batching import by_length
from common.data.text import read_lines
from common.errors import DataError
from common.io import atomic_path
from common.metrics.tagging import convert
from common.task import Signature
from tasks.ner.data import NERPrepared
from tasks.ner.layers import PAD
from tasks.ner.model import predict_tags, tag_ids
from tasks.ner.tags import TaggedSentence, convert_tags_tf, entities, read_conll, read_jsonl, write_conll

PREDICT_BATCH = 64  # sentences per call of the exported model in `predict_file`


def serving_functions(model, config, prepared: NERPrepared) -> dict[str, Signature]:
    """``serving_default``: padded tokens -> tags; ``sentences``: raw sentences -> their tokens and tags, each
    as one space-joined string per sentence (an empty sentence: "" and "", no tags)."""
    m = config.model
    tag_names = tf.constant(prepared.state["tags"])
    out_scheme = config.data.scheme

    def tag(tokens):
        width = tf.shape(tokens)[1]
        padded = tf.pad(tokens, [[0, 0], [0, tf.maximum(1 - width, 0)]], constant_values=PAD)
        ids, valid = tag_ids(model, padded, m.crf, m.constrained_decoding)
        names = convert_tags_tf(tf.gather(tag_names, ids), valid, out_scheme)
        return names[:, :width]

    def serve(tokens):
        return {"tags": tag(tokens)}

    def serve_sentences(sentences):
        pieces = tf.strings.split(sentences)
        tags = tf.RaggedTensor.from_tensor(tag(pieces.to_tensor(default_value=PAD)),
                                           lengths=pieces.row_lengths())
        return {"tokens": tf.strings.reduce_join(pieces, axis=-1, separator=" "),
                "tags": tf.strings.reduce_join(tags, axis=-1, separator=" ")}

    return {"serving_default": Signature(serve, [tf.TensorSpec([None, None], tf.string, name="tokens")]),
            "sentences": Signature(serve_sentences, [tf.TensorSpec([None], tf.string, name="sentences")])}


def serving_example(prepared: NERPrepared) -> dict:
    """Three test sentences, one of unseen words with non-ASCII letters, and an empty one."""
    sentences = [s.tokens for s in prepared.sentences["test"][:3]]
    sentences += [["Zxqwv", "Ünïcödé", "visited", "Ouagadougou", "."], []]
    width = max(len(s) for s in sentences)
    return {"tokens": np.array([s + [PAD] * (width - len(s)) for s in sentences], dtype=str)}


def reference_outputs(model, config, prepared: NERPrepared) -> dict:
    """Both signatures' tags for the serving example as ``evaluate`` finds them: `predict_tags` (tags of
    the model's scheme from the state's tag list), converted to the data's scheme in Python, padding ""
    (``sentences``: each sentence's tokens and tags joined by spaces, nothing for the empty one)."""
    tokens = serving_example(prepared)["tokens"]
    sentences = [[t for t in row if t != PAD] for row in tokens.tolist()]
    predicted = predict_tags(model, config, prepared.state["tags"], sentences)
    converted = [convert(row, config.model.tag_scheme, config.data.scheme)[0] for row in predicted]
    tags = np.full(tokens.shape, PAD, dtype=object)
    for i, row in enumerate(converted):
        tags[i, :len(row)] = row
    raw = np.array([" ".join(s) for s in sentences], dtype=str)
    joined = np.array([" ".join(row) for row in converted], dtype=str)
    return {"serving_default": ({"tokens": tokens}, {"tags": tags.astype(str)}),
            "sentences": ({"sentences": raw}, {"tokens": raw, "tags": joined})}


def read_predict_input(config, path: Path) -> tuple[str, list[TaggedSentence]]:
    """JSON Lines (``.jsonl``), CoNLL (a -DOCSTART- line, or blank-line-separated blocks whose
    lines all have the same number of columns), else raw text with one sentence per line."""
    data = config.data
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return "jsonl", read_jsonl(path, require_tags=False, encoding=data.encoding)
    numbered = read_lines(path, data.encoding, keep_blank=True)
    content = [line for _, line in numbered if line.strip()]
    if not content:
        raise DataError(f"{path}: no text to tag; give one sentence per line, CoNLL or JSON Lines")
    widths = {len(line.split()) for line in content if not line.startswith("-DOCSTART-")}
    has_blank_between = any(not line.strip() for _, line in numbered[:-1])
    if content[0].startswith("-DOCSTART-") or (has_blank_between and len(widths) == 1) or \
            suffix in (".conll", ".bio", ".iob"):
        return "conll", read_conll(path, data.token_column, None, data.encoding)
    sentences = [TaggedSentence(line.split(), None, f"{path}:{n}", [n]) for n, line in numbered
                 if line.strip()]
    return "text", sentences


def predict_file(serve, config, input_path: Path, output_path: Path) -> dict:
    """Tags every sentence; writes CoNLL (input columns + predicted tag) and ``<output>.entities.jsonl``."""
    fmt, sentences = read_predict_input(config, Path(input_path))

    def run(batch):
        width = max(len(s.tokens) for s in batch)
        padded = [s.tokens + [PAD] * (width - len(s.tokens)) for s in batch]
        tags = serve(tokens=tf.constant(padded, dtype=tf.string))["tags"].numpy()
        return [[t.decode("utf-8") for t in row[:len(s.tokens)]] for row, s in zip(tags, batch)]

    predicted = by_length(sentences, lambda s: len(s.tokens), PREDICT_BATCH, run)
    output_path = Path(output_path)
    rows = []
    for sentence, tags in zip(sentences, predicted):
        source = sentence.columns if fmt == "conll" else [[t] for t in sentence.tokens]
        rows.append([cols + [tag] for cols, tag in zip(source, tags)])
    write_conll(output_path, rows)
    entities_path = output_path.with_name(output_path.stem + ".entities.jsonl")
    counts: Counter = Counter()
    with atomic_path(entities_path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for number, (sentence, tags) in enumerate(zip(sentences, predicted)):
            found = entities(sentence.tokens, tags, config.data.scheme)
            counts.update(e["type"] for e in found)
            handle.write(json.dumps({"sentence": number, "source": sentence.source, "tokens": sentence.tokens,
                                     "entities": found}, ensure_ascii=False) + "\n")
    summary = {"input format": fmt, "sentences": len(sentences),
               "tokens": sum(len(s.tokens) for s in sentences), "entities": sum(counts.values()),
               "entities file": str(entities_path)}
    summary.update({f"entities {kind}": n for kind, n in sorted(counts.items())})
    return summary
