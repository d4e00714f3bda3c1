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

import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.data.batching import by_length_stream
from common.data.text import iter_lines, progress_lines
from common.errors import DataError
from common.io import atomic_path
from common.metrics.tagging import convert
from common.task import Signature
from tasks.ner.data import NERPrepared
from tasks.ner.layers import PAD
from tasks.ner.model import predict_tags, tag_ids
from tasks.ner.tags import DOCSTART, TaggedSentence, convert_tags_tf, entities, iter_conll, iter_jsonl

PREDICT_BATCH = 64  # sentences per call of the exported model in `predict_file`
PREDICT_WINDOW = 16 * PREDICT_BATCH  # sentences read, sorted by length and tagged at a time


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


def predict_format(path: Path, encoding: str = "utf-8") -> str:
    """The layout of a predict input: "jsonl" (``.jsonl`` / ``.json``, ``.gz`` ignored), "conll" (a
    -DOCSTART- line first, a ``.conll`` / ``.bio`` / ``.iob`` suffix, or blank-line-separated blocks whose
    lines all have the same number of columns), else "text" (one sentence per line).

    The file is read as a stream, stopping as soon as the answer is known (at the second width of lines,
    in most raw text); only a CoNLL file without a telling first line or suffix is read to the end."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    first, widths, blank_before, blank_between = None, set(), False, False
    for _, line in iter_lines(path, encoding):
        blank_between = blank_between or blank_before  # a blank line with another line after it
        if not line.strip():
            blank_before = True
            continue
        if first is None:
            first = line
            if line.startswith(DOCSTART) or suffix in (".conll", ".bio", ".iob"):
                return "conll"
        if not line.startswith(DOCSTART):
            widths.add(len(line.split()))
            if len(widths) > 1:
                return "text"
    if first is None:
        raise DataError(f"{path}: no text to tag; give one sentence per line, CoNLL or JSON Lines")
    return "conll" if blank_between else "text"


def predict_sentences(config, path: Path, fmt: str):
    """The sentences of a predict input in layout ``fmt`` (`predict_format`), read as they are used
    (any size; progress on a terminal). Raw text gives one sentence per non-blank line, split on
    whitespace."""
    data = config.data
    numbered = progress_lines(path, data.encoding, "predict")
    if fmt == "jsonl":
        return iter_jsonl(path, require_tags=False, encoding=data.encoding, numbered=numbered)
    if fmt == "conll":
        return iter_conll(path, data.token_column, None, data.encoding, numbered=numbered)
    return (TaggedSentence(line.split(), None, f"{path}:{n}", [n]) for n, line in numbered if line.strip())


def predict_file(serve, config, input_path: Path, output_path: Path) -> dict:
    """Tags every sentence; writes CoNLL (input columns + predicted tag) and ``<output>.entities.jsonl``.

    Sentences stream through the model ``PREDICT_WINDOW`` at a time (sorted by length inside the window,
    so a batch of ``PREDICT_BATCH`` is little padded) into temporary files that replace both outputs only
    once every sentence is done: an input of any size in bounded memory, and a bad line anywhere leaves
    neither output."""
    input_path, output_path = Path(input_path), Path(output_path)
    fmt = predict_format(input_path, config.data.encoding)
    sentences = predict_sentences(config, input_path, fmt)
    first = next(sentences, None)  # an input without a sentence fails before any output exists
    if first is None:
        raise DataError(f"{input_path}: no sentences to tag; give one sentence per line, CoNLL or JSON Lines")

    def run(batch):
        width = max(len(s.tokens) for s in batch)
        padded = [s.tokens + [PAD] * (width - len(s.tokens)) for s in batch]
        tags = serve(tokens=tf.constant(padded, dtype=tf.string))["tags"].numpy()
        return [[t.decode("utf-8") for t in row[:len(s.tokens)]] for row, s in zip(tags, batch)]

    entities_path = output_path.with_name(output_path.stem + ".entities.jsonl")
    counts: Counter = Counter()
    n_sentences = n_tokens = 0
    tagged = by_length_stream(itertools.chain([first], sentences), lambda s: len(s.tokens), PREDICT_BATCH,
                              run, PREDICT_WINDOW)
    with atomic_path(output_path) as conll_tmp, atomic_path(entities_path) as entities_tmp, \
            open(conll_tmp, "w", encoding="utf-8") as conll, \
            open(entities_tmp, "w", encoding="utf-8") as found:
        for sentence, tags in tagged:
            source = sentence.columns if fmt == "conll" else [[t] for t in sentence.tokens]
            # CoNLL: a blank line between sentences, a newline after the last
            conll.write(("\n" if n_sentences else "")
                        + "".join(" ".join(cols + [tag]) + "\n" for cols, tag in zip(source, tags)))
            spans = entities(sentence.tokens, tags, config.data.scheme)
            counts.update(e["type"] for e in spans)
            found.write(json.dumps({"sentence": n_sentences, "source": sentence.source,
                                    "tokens": sentence.tokens, "entities": spans}, ensure_ascii=False) + "\n")
            n_sentences += 1
            n_tokens += len(sentence.tokens)
    summary = {"input format": fmt, "sentences": n_sentences, "tokens": n_tokens,
               "entities": sum(counts.values()), "entities file": str(entities_path)}
    summary.update({f"entities {kind}": n for kind, n in sorted(counts.items())})
    return summary


# The core's id inputs and the tagger layer that makes each from the token strings.
CORE_INPUTS = {"word_ids": "word_lookup", "char_ids": "char_ids", "casing_ids": "casing"}


def export_formats(config) -> dict:
    """ONNX (any length) and LiteRT (sentences padded to the longest one of the data, batch 1) of the
    tagger from its id lookups on; not with character language models, which read the sentence text."""
    if config.model.char_lm.enabled:
        reason = "model.char_lm: the character language models read the sentence text, not word ids"
        return {"onnx": reason, "litert": reason}
    return {"onnx": None, "litert": None}


def export_core(model, config, prepared: NERPrepared, fmt: str):
    """The numeric core of ``serving_default``: ``word_ids [batch, words]`` (int64; 0 pads, 1 is unknown,
    then `vocabulary` from 2, looked up lower-cased with model.lowercase), and with a char encoder
    ``char_ids [batch, words, max_word_chars]`` (0 pads, 1 unknown, then `chars` from 2; Unicode code
    points, cut to max_word_chars), with model.casing_dim ``casing_ids [batch, words]`` (the casing
    classes of `tasks.ner.layers.CASING_PATTERNS`) -> ``scores [batch, words, tags]`` (the emission
    scores) and ``tag_ids [batch, words]``: the CRF's Viterbi path (with the scheme's constraints when
    model.constrained_decoding) decoded inside the graph, or the best score per word without a CRF. The
    host names them from `tags` (the model's scheme) and converts them to the data's `scheme`."""
    import keras

    from common.export_formats import Core

    m, state = config.model, prepared.state
    names = ["word_ids", *(["char_ids"] if m.char_encoder != "none" else []),
             *(["casing_ids"] if m.casing_dim else [])]
    inner = [model.get_layer(CORE_INPUTS[name]).output for name in names]
    core_model = keras.Model(inner, model.output, name="ner_core")
    ids_model = keras.Model(model.input, inner, name="ner_ids")

    def core(word_ids, char_ids=None, casing_ids=None):
        given = {"word_ids": word_ids, "char_ids": char_ids, "casing_ids": casing_ids}
        args = [given[name] if name == "word_ids" else tf.cast(given[name], tf.int32) for name in names]
        scores = tf.cast(core_model(args, training=False), tf.float32)
        valid = tf.not_equal(word_ids, 0)
        if m.crf:
            ids = model.crf.decode(scores, valid, constrained=m.constrained_decoding)
        else:
            ids = tf.argmax(scores, axis=-1, output_type=tf.int32)
        return {"scores": scores, "tag_ids": tf.cast(ids, tf.int64)}

    tokens = serving_example(prepared)["tokens"]
    longest = max([tokens.shape[1], *(len(s.tokens) for split in prepared.sentences.values() for s in split)])
    computed = ids_model(tf.constant(tokens))
    computed = computed if isinstance(computed, (list, tuple)) else [computed]
    example, specs, fixed = {}, [], {}
    for name, values in zip(names, computed):
        values = np.asarray(values, np.int64)
        padded = np.zeros((len(values), longest, *values.shape[2:]), np.int64)
        padded[:, :values.shape[1]] = values
        example[name] = padded
        tail = [m.max_word_chars] if name == "char_ids" else []
        specs.append(tf.TensorSpec([None, None, *tail], tf.int64, name=name))
        fixed[name] = [1, longest, *tail]
    preprocessing = {
        "lowercase": m.lowercase, "vocabulary": list(state["vocabulary"]), "chars": list(state["chars"]),
        "max_word_chars": m.max_word_chars, "tags": list(state["tags"]), "tag_scheme": m.tag_scheme,
        "scheme": config.data.scheme, "crf": m.crf, "max_words": longest,
        "host": "word_ids: each token (lower-cased with str.lower when lowercase) at its index in vocabulary "
                "+ 2, 1 when absent, 0 for the padding token ''; char_ids: the token's first max_word_chars "
                "code points at their index in chars + 2 (1 when absent), 0-padded; casing_ids: the first "
                "full match among numeric \\PL*\\d\\PL*, all_upper, initial_upper, has_digit, lower, mixed "
                "(ids 2-7; 1 none; 0 padding; tasks/ner/layers.py CASING_PATTERNS, RE2 syntax); tags = "
                "tags[tag_ids] of the real tokens, converted from tag_scheme to scheme; '' at padding. "
                "LiteRT takes exactly max_words words.",
    }
    return Core(core, specs, ["scores", "tag_ids"], preprocessing, example, fixed)
