"""Translation data: sentence pairs from files, in-graph tokenization, vocabularies, length-bucketed batches.

Data: tab-separated pairs (``source<TAB>target[<TAB>anything]``, the Anki /
Tatoeba layout; ``data.source_column`` / ``data.target_column`` pick the
direction) or two aligned plain-text files per split (the Multi30k / WMT
layout): a path containing ``{lang}`` is read once with ``data.source_lang`` and
once with ``data.target_lang`` (``multi30k/train.{lang}.gz`` -> ``train.de.gz`` and
``train.en.gz``). Splits the config does not name are carved from ``data.path``
by `common.data.split.carve`. Policies (all counted in the report): a pair with an
empty side is dropped; a training pair longer than ``data.max_length`` tokens on
either side is dropped; val/test pairs are never dropped (their teacher-forced
loss sees at most ``max_length`` tokens, decoding sees the whole sentence up to
``max_length``); aligned files with different line counts are an error.

Tokenization is made of `tf.strings` ops (lower-casing, punctuation split off as
tokens), the same ops in the training data and in the exported graph, so the
SavedModel takes raw strings. Vocabularies (by size and minimum frequency per
side) are fitted on the training split and saved in ``state``. With
``data.granularity: sentencepiece`` the tokens are subword pieces instead: one
SentencePiece model per side (`common.data.subword`) is fitted on the training
split's lower-cased text, before the length policy (which then counts pieces),
and saved in ``state`` beside its pieces; the training data is encoded by the
``sentencepiece`` library, the exported graph by tensorflow-text with the same
model, so the ids agree. Word tokens are still made for every split: tokenized
BLEU and the copy baseline score words whatever the model's tokens.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from common.data.checks import check_batch_size, check_training_unknowns, unknown_share
from common.data.datasets import describe, resolve_all, substitute
from common.data.split import carve, seeded_subset
from common.data.subword import SentencePiece, from_state, to_state, train_sentencepiece
from common.data.text import iter_lines, read_lines
from common.errors import DataError, warn
from common.task import Prepared
from tasks.translation.config import LANG

UNK, START, END = "[UNK]", "[START]", "[END]"
RESERVED = ["", UNK, START, END]
RESERVED_PIECES = ("[PAD]", UNK, START, END)  # a SentencePiece model's first pieces (padding needs a name)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3  # the positions of RESERVED in every vocabulary
SORT_CHUNK = 50  # training batches are formed by length inside chunks of this many batches
SPLITS = ("train", "val", "test")


# ---- tokenization (graph ops, shared by training data, serving and metrics) ------------------------
def normalize(texts, lowercase: bool = True) -> tf.Tensor:
    """What both kinds of tokens start from: the text, Unicode lower-cased when ``lowercase``."""
    texts = tf.convert_to_tensor(texts, tf.string)
    return tf.strings.lower(texts, encoding="utf-8") if lowercase else texts


def tokenize(texts, lowercase: bool = True) -> tf.RaggedTensor:
    """Word tokens: optional Unicode lower-casing, every punctuation mark its own token."""
    texts = tf.strings.regex_replace(normalize(texts, lowercase), r"([^\pL\pN\s])", r" \1 ")
    return tf.strings.split(texts)


def detokenize(tokens: tf.RaggedTensor) -> tf.Tensor:
    """Join tokens into text, re-attaching punctuation (rules in the spirit of Moses' detokenizer)."""
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, r" ([.,!?;:%)\]}])", r"\1")
    text = tf.strings.regex_replace(text, r"([(\[{]) ", r"\1")
    return tf.strings.regex_replace(text, r" ?(['’-]) ?", r"\1")  # don ' t -> don't, t - shirt -> t-shirt


def python_tokens(texts, lowercase: bool, batch: int = 4096) -> list[list[str]]:
    """`tokenize` run eagerly over a list of texts, as Python strings (for vocabularies and metrics)."""
    out = []
    for start in range(0, len(texts), batch):
        ragged = tokenize(tf.constant(texts[start:start + batch], tf.string), lowercase)
        out.extend([[t.decode("utf-8") for t in row] for row in ragged.to_list()])
    return out


def python_normalized(texts, lowercase: bool, batch: int = 4096) -> list[str]:
    """`normalize` run eagerly over a list of texts (the very op of the graph: Python's ``str.lower``
    differs from it on some characters)."""
    if not lowercase:
        return list(texts)
    out = []
    for start in range(0, len(texts), batch):
        out.extend(t.decode("utf-8") for t in normalize(tf.constant(texts[start:start + batch], tf.string),
                                                        lowercase).numpy().tolist())
    return out


def fit_sentencepiece(pairs, data, files: str) -> dict:
    """One SentencePiece model per side fitted on the training pairs: ``state`` entries ``<side>_vocab``
    (its pieces, in id order) and ``<side>_sentencepiece`` (the model, base64)."""
    state = {}
    for side, texts in (("source", pairs.sources), ("target", pairs.targets)):
        proto = train_sentencepiece(python_normalized(texts, data.lowercase),
                                    getattr(data, f"{side}_vocab_size"), data.sentencepiece_type,
                                    reserved=RESERVED_PIECES,
                                    where=f"{files} ({side} side)", key=f"data.{side}_vocab_size")
        state[f"{side}_vocab"] = SentencePiece(proto).pieces()
        state[f"{side}_sentencepiece"] = to_state(proto)
    return state


def piece_ids(state: dict, side: str, texts, lowercase: bool) -> list[list[int]]:
    """Piece ids of ``texts`` by the ``sentencepiece`` library, with the model of ``state``'s ``side``."""
    model = SentencePiece(from_state(state[f"{side}_sentencepiece"]))
    return model.encode(python_normalized(texts, lowercase))


def build_vocabulary(token_lists, max_size: int, min_freq: int) -> list[str]:
    """Reserved tokens, then words by descending frequency (ties alphabetical, so it is deterministic)."""
    counts = collections.Counter(token for tokens in token_lists for token in tokens)
    words = sorted((w for w, c in counts.items() if c >= min_freq and w not in RESERVED),
                   key=lambda w: (-counts[w], w))
    if max_size:
        words = words[:max_size]
    return RESERVED + words


# ---- reading pairs ------------------------------------------------------------------------------
@dataclass
class Pairs:
    """Sentence pairs of one split, with the ``file:line`` each came from (for messages)."""

    sources: list[str]
    targets: list[str]
    where: list[str]

    def __len__(self):
        return len(self.sources)

    def subset(self, indices) -> Pairs:
        return Pairs([self.sources[i] for i in indices], [self.targets[i] for i in indices],
                     [self.where[i] for i in indices])

    def rows(self) -> list[tuple[str, str, str]]:
        return list(zip(self.sources, self.targets, self.where))

    @classmethod
    def from_rows(cls, rows) -> Pairs:
        return cls(*map(list, zip(*rows))) if rows else cls([], [], [])


def read_pairs(data, path_string) -> tuple[Pairs, int]:
    """Pairs from TSV files or aligned file pairs (one file, or shards in order: a glob or a list; the
    n-th source shard is aligned with the n-th target shard); returns them and how many had an empty side."""
    rows = []
    if data.is_parallel(path_string):
        src_paths = resolve_all(substitute(path_string, LANG, data.source_lang))
        tgt_paths = resolve_all(substitute(path_string, LANG, data.target_lang))
        if len(src_paths) != len(tgt_paths):
            raise DataError(f"{describe(path_string)}: {len(src_paths)} {data.source_lang} file(s) but "
                            f"{len(tgt_paths)} {data.target_lang} file(s); every shard needs its aligned "
                            "file in the other language")
        for src_path, tgt_path in zip(src_paths, tgt_paths):
            src = read_lines(src_path, data.encoding, keep_blank=True)
            tgt = read_lines(tgt_path, data.encoding, keep_blank=True)
            if len(src) != len(tgt):
                raise DataError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; aligned "
                                "files need one sentence per line on both sides (check for a truncated file)")
            rows.extend((s.strip(), t.strip(), f"{src_path}:{n}") for (n, s), (_, t) in zip(src, tgt))
    else:
        need = max(data.source_column, data.target_column) + 1
        for path in resolve_all(path_string):
            # iter_lines, not read_lines: right-stripping would turn "source<TAB>" into "source".
            for number, line in iter_lines(path, data.encoding):
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) < need:
                    raise DataError(f"{path}:{number}: {len(fields)} tab-separated field(s), need at least "
                                    f"{need} (source in column {data.source_column}, target in column "
                                    f"{data.target_column}, 0-based); is the file tab-separated?")
                rows.append((fields[data.source_column].strip(), fields[data.target_column].strip(),
                             f"{path}:{number}"))
    kept = [row for row in rows if row[0] and row[1]]
    if not kept:
        raise DataError(f"{describe(path_string)}: no sentence pairs (the file is empty or every pair has an "
                        "empty side)")
    return Pairs.from_rows(kept), len(rows) - len(kept)


def load_splits(config) -> tuple[dict[str, Pairs], dict[str, int]]:
    """Train/val/test pairs (named files, or carved from ``data.path``) and the empty-side pairs dropped
    per file (key ``all`` for ``data.path``)."""
    data = config.data
    empty, named = {}, {}
    if data.path is not None:
        full, empty["all"] = read_pairs(data, data.path)
    for split in SPLITS:
        if getattr(data, split):
            named[split], empty[split] = read_pairs(data, getattr(data, split))
    if data.path is None:
        splits = named
    else:
        carved = carve(full.rows(), {s: pairs.rows() for s, pairs in named.items()}, data.val_fraction,
                       data.test_fraction, config.seed, describe(data.path))
        splits = {s: named[s] if s in named else Pairs.from_rows(rows) for s, rows in carved.items()}
    splits = {s: pairs.subset(seeded_subset(len(pairs), data.max_examples, config.seed))
              for s, pairs in splits.items()}
    empty = {k: v for k, v in empty.items() if v}
    if empty:
        warn(f"dropped sentence pairs with an empty side: {empty}")
    return splits, empty


def check_not_copies(pairs: Pairs, files: str) -> None:
    """Every target equal to its source: the two columns (or files) hold the same side, and the model
    would learn to copy its input."""
    if all(source == target for source, target, _ in pairs.rows()):
        raise DataError(f"{files}: every training target is identical to its source sentence, so the source "
                        "and target read the same text; point data.source_column/data.target_column (or "
                        "data.source_lang/data.target_lang) at the two languages")


# ---- batching -----------------------------------------------------------------------------------
def encode(tokens, index, max_length) -> list[int]:
    """Ids of at most ``max_length - 1`` tokens (unknown words -> [UNK]) and the end token."""
    return [index.get(t, UNK_ID) for t in tokens[: max_length - 1]] + [END_ID]


def _pad(rows, width) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype="int32")
    for i, row in enumerate(rows):
        out[i, :len(row)] = row[:width]
    return out


def _length_batches(lengths, batch_size, rng=None) -> list[np.ndarray]:
    """Batches of similar length (little padding). With ``rng``: random chunks sorted by length."""
    order = rng.permutation(len(lengths)) if rng is not None else np.arange(len(lengths))
    batches = []
    chunk = batch_size * SORT_CHUNK
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(np.asarray(lengths)[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    return batches


def make_dataset(source_ids, target_ids, batch_size, seed=None) -> tf.data.Dataset:
    """``({"source", "target_in"}, target_out)`` batches, padded only to each batch's longest row.

    Training (``seed`` given): fixed length-sorted batches whose order is reshuffled every
    epoch, so the number of steps per epoch is known (learning-rate schedules need it).
    """
    src_width = max(len(r) for r in source_ids)
    tgt_width = max(len(r) for r in target_ids) + 1
    source = tf.constant(_pad(source_ids, src_width))
    target_in = tf.constant(_pad([[START_ID] + r[:-1] for r in target_ids], tgt_width))
    target_out = tf.constant(_pad(target_ids, tgt_width))
    lengths = [len(s) + len(t) for s, t in zip(source_ids, target_ids)]
    rng = np.random.default_rng(seed) if seed is not None else None
    batches = tf.ragged.constant([b.tolist() for b in _length_batches(lengths, batch_size, rng)], tf.int64)

    def gather(i):
        rows = batches[i]
        src, t_in, t_out = (tf.gather(x, rows) for x in (source, target_in, target_out))
        src_len = tf.reduce_max(tf.reduce_sum(tf.cast(src != PAD_ID, tf.int32), axis=1))
        tgt_len = tf.reduce_max(tf.reduce_sum(tf.cast(t_out != PAD_ID, tf.int32), axis=1))
        return {"source": src[:, :src_len], "target_in": t_in[:, :tgt_len]}, t_out[:, :tgt_len]

    ds = tf.data.Dataset.range(batches.nrows())
    if seed is not None:
        ds = ds.shuffle(int(batches.nrows()), seed=seed, reshuffle_each_iteration=True)
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


# ---- prepare --------------------------------------------------------------------------------------
@dataclass(kw_only=True)
class TranslationPrepared(Prepared):
    """The batched splits plus what evaluation, baselines and the serving example read, per split."""

    pairs: dict[str, Pairs]  # raw sentences: sacreBLEU, the predictions file, the copy baseline
    source_tokens: dict[str, list[list[str]]]  # attention-plot labels, the copy baseline
    target_tokens: dict[str, list[list[str]]]  # references of tokenized BLEU and ROUGE
    source_ids: dict[str, list[list[int]]]  # what the encoder reads (attention plots)


def prepare(config, state: dict | None = None) -> TranslationPrepared:
    """Read and tokenize the splits, drop long training pairs, fit the vocabularies (unless ``state``
    holds them) and batch the splits."""
    data = config.data
    splits, empty = load_splits(config)
    src_tok = {split: python_tokens(p.sources, data.lowercase) for split, p in splits.items()}
    tgt_tok = {split: python_tokens(p.targets, data.lowercase) for split, p in splits.items()}
    subword = data.granularity == "sentencepiece"
    unit = "pieces" if subword else "tokens"
    src_units, tgt_units = src_tok, tgt_tok  # what the length policy counts: words, or the pieces below
    if subword:
        if state is None:
            files = ", ".join(dict.fromkeys(w.rsplit(":", 1)[0] for w in splits["train"].where))
            check_not_copies(splits["train"], files)
            state = fit_sentencepiece(splits["train"], data, files)
        src_units = {s: piece_ids(state, "source", p.sources, data.lowercase) for s, p in splits.items()}
        tgt_units = {s: piece_ids(state, "target", p.targets, data.lowercase) for s, p in splits.items()}
    # Length policy: drop long training pairs (counted); keep every val/test pair.
    keep = [i for i, (s, t) in enumerate(zip(src_units["train"], tgt_units["train"]))
            if len(s) < data.max_length and len(t) < data.max_length]
    too_long = len(splits["train"]) - len(keep)
    if not keep:
        files = ", ".join(dict.fromkeys(w.rsplit(":", 1)[0] for w in splits["train"].where))
        raise DataError(f"{files}: every training pair is longer than data.max_length={data.max_length} "
                        f"{unit} on one side; raise data.max_length")
    splits["train"] = splits["train"].subset(keep)
    for units in {id(u): u for u in (src_tok, tgt_tok, src_units, tgt_units)}.values():
        units["train"] = [units["train"][i] for i in keep]
    files = ", ".join(dict.fromkeys(w.rsplit(":", 1)[0] for w in splits["train"].where))
    if state is None:
        check_not_copies(splits["train"], files)
        state = {"source_vocab": build_vocabulary(src_tok["train"], data.source_vocab_size, data.min_freq),
                 "target_vocab": build_vocabulary(tgt_tok["train"], data.target_vocab_size, data.min_freq)}
        for side, tokens, vocab, size in (("source", src_tok, "source_vocab", data.source_vocab_size),
                                          ("target", tgt_tok, "target_vocab", data.target_vocab_size)):
            known = set(state[vocab])
            n_tokens = sum(len(t) for t in tokens["train"])
            share = unknown_share(sum(w not in known for t in tokens["train"] for w in t), n_tokens)
            check_training_unknowns(share, f"{files} ({side} side)",
                                    f"data.min_freq ({data.min_freq}) or data.{side}_vocab_size ({size})")
    if subword:
        src_ids = {s: [ids[: data.max_length - 1] + [END_ID] for ids in src_units[s]] for s in SPLITS}
        tgt_ids = {s: [ids[: data.max_length - 1] + [END_ID] for ids in tgt_units[s]] for s in SPLITS}
    else:
        src_index = {w: i for i, w in enumerate(state["source_vocab"])}
        tgt_index = {w: i for i, w in enumerate(state["target_vocab"])}
        src_ids = {s: [encode(t, src_index, data.max_length) for t in src_tok[s]] for s in SPLITS}
        tgt_ids = {s: [encode(t, tgt_index, data.max_length) for t in tgt_tok[s]] for s in SPLITS}
    batch = config.train.batch_size
    check_batch_size(batch, len(splits["train"]), "sentence pairs", files)
    unk = {side: np.mean([r.count(UNK_ID) / len(r) for r in ids["test"]])
           for side, ids in (("src", src_ids), ("tgt", tgt_ids))}
    info = {"pairs": ", ".join(f"{s} {len(splits[s])}" for s in SPLITS),
            "direction": data.direction(),
            "vocabulary": (f"sentencepiece {data.sentencepiece_type}, byte fallback: source "
                           f"{len(state['source_vocab'])} pieces, target {len(state['target_vocab'])} pieces "
                           "(fitted on the training split)" if subword else
                           f"source {len(state['source_vocab'])}, target {len(state['target_vocab'])} "
                           f"(min_freq {data.min_freq})"),
            "test [UNK] rate": f"source {unk['src']:.1%}, target {unk['tgt']:.1%}",
            "dropped": f"{too_long} training pairs longer than {data.max_length} {unit}; "
                       f"pairs with an empty side: {empty or 0}"}
    return TranslationPrepared(
        train=make_dataset(src_ids["train"], tgt_ids["train"], batch, seed=config.seed),
        val=make_dataset(src_ids["val"], tgt_ids["val"], batch),
        test=make_dataset(src_ids["test"], tgt_ids["test"], batch),
        state=state, info=info, pairs=splits, source_tokens=src_tok, target_tokens=tgt_tok,
        source_ids=src_ids)
