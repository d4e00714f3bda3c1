"""The ner task's data: tagged sentences read and checked, tags in the model's scheme, the vocabulary
fitted on training, and the batched tf.data splits.

Tags are read in the file's scheme (``data.scheme``), converted to the model's
(``model.tag_scheme``) and converted back for every output; repairs of ill-formed
tags are counted and reported. The model takes raw token strings, so the splits
hold strings padded with ``""`` and tag ids padded with -1 (which the losses skip).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from common.config import shown
from common.data.checks import check_batch_size, check_training_unknowns, unknown_share
from common.data.datasets import describe, resolve_all
from common.data.split import SPLITS, carve, seeded_subset
from common.data.vectors import pretrained_embeddings
from common.errors import ConfigError, DataError, warn
from common.metrics.tagging import OUTSIDE, convert
from common.pretrained import PretrainedEncoder
from common.task import Prepared
from tasks.ner.layers import PAD
from tasks.ner.tags import TaggedSentence, check_tag_column, check_tags, entities, read_tagged

UNKNOWN = "[UNK]"  # the word lookup's out-of-vocabulary token (row 1 of the word embedding)
LENGTH_BUCKETS = [8, 16, 24, 32, 48, 64]  # sentence lengths (tokens) where training batches are cut


@dataclass(kw_only=True)
class NERPrepared(Prepared):
    """``sentences``: each split's sentences with tags in the model's scheme (``raw_tags``: as read),
    for the metrics, the val-F1 callback, the baseline and the serving example.
    ``embedding_matrix``: the pretrained word vectors, one row per word id (None without them)."""

    sentences: dict[str, list[TaggedSentence]]
    embedding_matrix: np.ndarray | None = None
    encoder: PretrainedEncoder | None = None  # language-model weights for the word embedding and encoder
    char_lm: PretrainedEncoder | None = None  # frozen character language models (`tasks.ner.char_lm`)


def load_splits(config) -> dict[str, list[TaggedSentence]]:
    """The three splits as read: from their files, or carved out of ``data.path``."""
    data = config.data

    def read(path_string):  # one file, or its shards in order (a glob or a list), each checked on its own
        sentences = []
        for path in resolve_all(path_string):
            if data.format == "auto" and is_jsonl(path):
                data.check_columns_unused(f"data.format auto reads {path} as JSON Lines")
            shard = read_tagged(path, data.format, data.token_column, data.tag_column, data.encoding)
            check_distinct_columns(data, shard, path)
            check_tag_column(shard, data.token_column, data.tag_column, path)
            sentences.extend(shard)
        return sentences

    if data.path is None:
        splits = {split: read(getattr(data, split)) for split in SPLITS}
    else:
        named = {split: read(getattr(data, split)) for split in ("val", "test") if getattr(data, split)}
        splits = carve(read(data.path), named, data.val_fraction, data.test_fraction, config.seed,
                       describe(data.path))
    return {split: [sentences[i] for i in seeded_subset(len(sentences), data.max_examples, config.seed)]
            for split, sentences in splits.items()}


def is_jsonl(path) -> bool:
    """How ``read_tagged`` tells JSON Lines from CoNLL under ``data.format: auto``."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return bool(suffixes) and suffixes[-1] in (".jsonl", ".json")


def check_distinct_columns(data, sentences, path) -> None:
    """``token_column: 3`` and ``tag_column: -1`` are the same column of a four-column file: the tagger
    would learn to copy its input (and any token that looks like a tag passes the tag checks)."""
    columns = sentences[0].columns
    if not columns:  # JSON Lines
        return
    width = len(columns[0])
    if data.token_column % width == data.tag_column % width:
        raise ConfigError(f"{path}:{sentences[0].lines[0]}: data.token_column ({data.token_column}) and "
                          f"data.tag_column ({data.tag_column}) both name column "
                          f"{data.token_column % width} of the {width}, so every token would be its own tag; "
                          "set data.tag_column to the column of the entity tags")


def to_model_scheme(config, splits) -> dict[str, int]:
    """Validate tags and convert them in place to the model's scheme; repairs per split."""
    repairs = {}
    for split, sentences in splits.items():
        count, first = 0, None
        for sentence in sentences:
            check_tags(sentence, config.data.scheme)
            sentence.raw_tags = sentence.tags
            sentence.tags, fixed = convert(sentence.tags, config.data.scheme, config.model.tag_scheme)
            if fixed and first is None:
                first = sentence.source
            count += fixed
        if count:
            warn(f"{split} data: repaired {count} ill-formed tag(s) for scheme {config.data.scheme} (an "
                 f"I- tag following nothing starts an entity, as in conlleval), first at {first}")
            repairs[split] = count
    return repairs


def fit_state(config, train) -> dict:
    """Vocabulary, characters and tag set of the training sentences (saved as ``state.json``)."""
    m = config.model
    tokens = [t for s in train for t in s.tokens]
    forms = tokens
    if m.lowercase:  # lower-case with the same op the model uses (`Lowercase`), so lookups always agree
        forms = [t.decode("utf-8") for t in
                 tf.strings.lower(tf.constant(tokens), encoding="utf-8").numpy().tolist()]
    counts = Counter(forms)
    words = sorted((w for w, c in counts.items() if c >= m.min_word_count and w not in (PAD, UNKNOWN)),
                   key=lambda w: (-counts[w], w))[:m.max_vocabulary]
    kept = set(words)
    share = unknown_share(sum(c for w, c in counts.items() if w not in kept), len(forms))
    check_training_unknowns(share, train[0].source.rsplit(":", 1)[0],
                            f"model.min_word_count ({m.min_word_count}) or model.max_vocabulary "
                            f"({m.max_vocabulary})")
    chars = Counter(c for t in tokens for c in t)
    # Every prefix of the scheme for every entity type seen, so that e.g. a multi-word LOC in the
    # test data is known even if training only had one-word ones (S-LOC but no B-LOC in BIOES).
    kinds = sorted({t.partition("-")[2] for s in train for t in s.tags if t != OUTSIDE})
    prefixes = "BIES" if m.tag_scheme == "bioes" else "BI"
    tags = [OUTSIDE] + [f"{p}-{kind}" for kind in kinds for p in prefixes]
    return {"tags": tags, "vocabulary": words, "chars": sorted(chars, key=lambda c: (-chars[c], c)),
            "data_scheme": config.data.scheme, "tag_scheme": m.tag_scheme}


def check_unseen(config, splits, tags) -> dict[str, int]:
    """Tags of entity types training never had: an error naming the line, or read as O (counted)."""
    known, replaced = set(tags), {}
    for split, sentences in splits.items():
        for sentence in sentences:
            for i, tag in enumerate(sentence.tags):
                if tag in known:
                    continue
                if config.data.unseen_tags == "error":
                    path = sentence.source.rsplit(":", 1)[0]
                    raise DataError(f"{path}:{sentence.lines[i]}: tag {shown(sentence.raw_tags[i])}: its "
                                    f"entity type never occurs in the training data ({split} split); fix the "
                                    "data or set data.unseen_tags: outside to read such tags as O")
                sentence.tags[i] = OUTSIDE
                replaced[split] = replaced.get(split, 0) + 1
    for split, n in replaced.items():
        warn(f"{split} data: {n} tag(s) unseen in training read as O (data.unseen_tags: outside)")
    return replaced


def make_dataset(sentences, index: dict[str, int]) -> tf.data.Dataset:
    """(tokens, tag ids) per sentence, unpadded: batches are padded with "" and -1 later."""
    width = max(len(s.tokens) for s in sentences)
    tokens = np.array([s.tokens + [PAD] * (width - len(s.tokens)) for s in sentences], dtype=object)
    ids = np.array([[index[t] for t in s.tags] + [-1] * (width - len(s.tags)) for s in sentences],
                   dtype="int32")
    lengths = np.array([len(s.tokens) for s in sentences], dtype="int32")
    return tf.data.Dataset.from_tensor_slices((tokens, ids, lengths)).map(lambda t, y, n: (t[:n], y[:n]))


def batched_splits(config, splits, tags) -> dict[str, tf.data.Dataset]:
    """Training batches cut by sentence length (reshuffled each epoch); val/test in file order.

    The number of training batches is counted here (bucket by bucket, as
    ``bucket_by_sequence_length`` fills them) so the dataset has a known length:
    the shared fit loop needs it to resume a run on exactly the right batch.
    """
    index = {tag: i for i, tag in enumerate(tags)}
    batch = config.train.batch_size
    lengths = np.array([len(s.tokens) for s in splits["train"]])
    bucket_sizes = np.bincount(np.searchsorted(LENGTH_BUCKETS, lengths, side="right"),
                               minlength=len(LENGTH_BUCKETS) + 1)
    n_batches = int(np.sum(np.ceil(bucket_sizes / batch)))
    train = make_dataset(splits["train"], index).shuffle(len(splits["train"]), seed=config.seed,
                                                         reshuffle_each_iteration=True)
    train = train.bucket_by_sequence_length(
        lambda tokens, _: tf.shape(tokens)[0], LENGTH_BUCKETS, [batch] * (len(LENGTH_BUCKETS) + 1),
        padding_values=(PAD, -1))
    train = train.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)
    ordered = {split: make_dataset(splits[split], index).padded_batch(batch, padding_values=(PAD, -1))
               .prefetch(tf.data.AUTOTUNE) for split in ("val", "test")}
    return {"train": train, **ordered}


def prepare(config, state: dict | None = None) -> NERPrepared:
    """Read, check and convert the splits, fit the vocabulary (unless ``state`` is given), load the
    pretrained vectors if configured, and batch everything."""
    m = config.model
    splits = load_splits(config)
    repairs = to_model_scheme(config, splits)
    if state is None:
        state = fit_state(config, splits["train"])
    trained = state["tag_scheme"]  # a KeyError: state.json is damaged (lifecycle.reading_state says so)
    if trained != m.tag_scheme:
        raise ConfigError(f"model.tag_scheme is {m.tag_scheme} but the run was trained with "
                          f"{trained}; keep the trained run's setting")
    replaced = check_unseen(config, splits, state["tags"])
    info = {"tag scheme": f"data {config.data.scheme}, model {m.tag_scheme}",
            "tags": ", ".join(state["tags"]),
            "vocabulary": f"{len(state['vocabulary'])} words, {len(state['chars'])} characters"}
    for split, sentences in splits.items():
        n_entities = sum(len(entities(s.tokens, s.tags, m.tag_scheme)) for s in sentences)
        info[f"{split} data"] = (f"{len(sentences)} sentences, {sum(len(s.tokens) for s in sentences)} "
                                 f"tokens, {n_entities} entities")
    if repairs:
        info["tag repairs"] = str(repairs)
    if replaced:
        info["unseen tags read as O"] = str(replaced)
    matrix = None
    if m.pretrained_vectors:
        matrix, info["pretrained vectors"] = pretrained_embeddings(
            m.pretrained_vectors, [PAD, UNKNOWN] + state["vocabulary"], m.embedding_dim, m.vectors_encoding,
            config.seed, specials=(PAD, UNKNOWN))
    check_batch_size(config.train.batch_size, len(splits["train"]), "sentences",
                     splits["train"][0].source.rsplit(":", 1)[0])
    batched = batched_splits(config, splits, state["tags"])
    return NERPrepared(train=batched["train"], val=batched["val"], test=batched["test"], state=state,
                       info=info, sentences=splits, embedding_matrix=matrix)
