"""Machine translation: an encoder-decoder RNN with attention, raw sentences in, translations out.

Data: tab-separated pairs (``source<TAB>target[<TAB>anything]``, the Anki /
Tatoeba layout; ``data.source_column`` / ``data.target_column`` pick the
direction) or two aligned plain-text files per split (the Multi30k / WMT
layout): a path containing ``{lang}`` is read once with ``data.source_lang`` and
once with ``data.target_lang`` (``multi30k/train.{lang}.gz`` -> ``train.de.gz`` and
``train.en.gz``). Files the config does not name are carved from ``data.path``
by a seeded random split. Policies (all counted in the report): a pair with an
empty side is dropped; a training pair longer than ``data.max_length`` tokens on
either side is dropped; val/test pairs are never dropped (their teacher-forced
loss sees at most ``max_length`` tokens, decoding sees the whole sentence up to
``max_length``); aligned files with different line counts are an error.

Tokenization happens inside the graph with `tf.strings` ops (lower-casing,
punctuation split off as tokens; vocabulary by size and minimum frequency per
side), so the exported SavedModel takes raw strings and returns detokenized
text. The model is `tasks.translation.model` (shared recurrent encoder, GRU/LSTM decoder
with Bahdanau or Luong attention); decoding is `common.layers.decoding` (beam search by
default, greedy as a second signature), both inside the exported graph.
"""
from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.config import BaseDataConfig, option, section
from common.data.datasets import resolve
from common.data.text import read_lines, read_text
from common.errors import ConfigError, DataError
from common.io import atomic_path
from common.layers.attention import ATTENTION_TYPES
from common.layers.recurrent import RNNConfig
from common.metrics.translation import (
    masked_token_nll,
    perplexity,
    rouge_scores,
    sacrebleu_scores,
    tokenized_bleu,
)
from common.plots import save_attention_heatmap
from common.task import Demo, Prepared, Signature, Task
from tasks.translation import demo_data
from tasks.translation.model import (
    DECODER_CELLS,
    PAD_ID,
    MaskedSequenceLoss,
    MaskedTokenAccuracy,
    Seq2SeqInference,
    build_seq2seq,
)

LANG = "{lang}"
UNK, START, END = "[UNK]", "[START]", "[END]"
RESERVED = ["", UNK, START, END]  # ids 0 (padding), 1, 2, 3
START_ID, END_ID = 2, 3
SORT_CHUNK = 50  # training batches are formed by length inside chunks of this many batches


@dataclass
class TranslationDataConfig(BaseDataConfig):
    format: str = option("auto", "tsv: source<TAB>target pairs per line; parallel: two aligned files per "
                         "split, the path contains {lang}; auto: parallel when the path contains {lang}.",
                         choices=["auto", "tsv", "parallel"])
    source_lang: str = option("de", "Replaces {lang} in parallel file paths for the source side.")
    target_lang: str = option("en", "Replaces {lang} in parallel file paths for the target side.")
    source_column: int = option(0, "TSV: 0-based column of the source sentence.", min=0)
    target_column: int = option(1, "TSV: 0-based column of the target sentence.", min=0)
    encoding: str = option("utf-8", "Text encoding of the data files.")
    val_fraction: float = option(0.1, "Share of data.path used for validation when data.val is not given.",
                                 min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path used for the test split when data.test is not "
                                  "given.", min=0.0, max=0.9)
    lowercase: bool = option(True, "Lower-case both sides before tokenizing (translations come out lower-"
                             "cased, and sacreBLEU is then scored case-insensitively).")
    max_length: int = option(50, "Tokens per sentence: longer training pairs are dropped (counted); other "
                             "sentences are cut to this length.", min=2)
    source_vocab_size: int = option(0, "Keep at most this many source words (0: no limit).", min=0)
    target_vocab_size: int = option(0, "Keep at most this many target words (0: no limit).", min=0)
    min_freq: int = option(1, "Words seen fewer times in the training data become [UNK].", min=1)
    max_examples: int | None = option(None, "Use at most this many pairs per split (seeded random subset; "
                                      "for quick tests).", min=1)

    def validate(self):
        if self.path is not None and self.train is not None:
            raise ConfigError("config data: set data.path (split by the task) or data.train, not both")
        if self.source_column == self.target_column:
            raise ConfigError("config data: data.source_column and data.target_column are both "
                              f"{self.source_column}; they must name different columns")
        if self.format == "parallel":
            for key in ("path", "train", "val", "test"):
                value = getattr(self, key)
                if value is not None and LANG not in value:
                    raise ConfigError(f"config key 'data.{key}': format parallel needs {LANG} in the path, "
                                      "e.g. multi30k/train.{lang}.gz")
        if self.source_lang == self.target_lang:
            raise ConfigError(f"config data: data.source_lang and data.target_lang are both "
                              f"{self.source_lang!r}; set them to the two languages")


@dataclass
class TranslationModelConfig:
    embedding_dim: int = option(128, "Word embedding size (both sides).", min=1)
    encoder: RNNConfig = section(RNNConfig, "Recurrent encoder (the shared recurrent block); its "
                                 "implementation applies to the decoder RNN too.")
    decoder_cell: str = option("gru", "Decoder cell.", choices=list(DECODER_CELLS))
    decoder_units: int = option(256, "Decoder hidden units.", min=1)
    attention: str = option("bahdanau", "Attention score: bahdanau (additive), luong_dot, luong_general.",
                            choices=list(ATTENTION_TYPES))
    attention_units: int = option(128, "Hidden size of the additive (bahdanau) scorer.", min=1)
    feed_context: bool = option(True, "Feed the attention context into the decoder cell, attending from "
                                "the previous state (Bahdanau et al.): better translations, but training "
                                "runs the decoder step by step. false: attention reads the decoder's "
                                "outputs (Luong et al.), so training runs all target steps at once.")
    dropout: float = option(0.2, "Dropout on embeddings and before the output layer.", min=0.0, max=0.9)
    tie_embeddings: bool = option(False, "Share the target embedding matrix with the output layer.")
    label_smoothing: float = option(0.1, "Label smoothing of the training loss.", min=0.0, max=0.5)
    scheduled_sampling: float = option(0.0, "Probability of feeding the decoder its own prediction instead "
                                       "of the gold token during training (0: pure teacher forcing).",
                                       min=0.0, max=0.9)
    beam_width: int = option(4, "Beam width of the exported translator and the evaluation (1: greedy).",
                             min=1)
    length_penalty: float = option(0.6, "GNMT length penalty alpha for beam search (0: none).", min=0.0)
    max_output_length: int = option(60, "Longest translation in tokens.", min=1)
    eval_greedy: bool = option(True, "Also score greedy decoding on the evaluated split (bleu_greedy).")
    attention_plots: int = option(3, "Attention heatmaps written for the first N evaluated sentences.",
                                  min=0)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---- tokenization (graph ops, shared by training data, serving and metrics) ------------------------
def tokenize(texts, lowercase: bool = True) -> tf.RaggedTensor:
    """Word tokens: optional Unicode lower-casing, every punctuation mark its own token."""
    texts = tf.convert_to_tensor(texts, tf.string)
    if lowercase:
        texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, r"([^\pL\pN\s])", r" \1 ")
    return tf.strings.split(texts)


def detokenize(tokens: tf.RaggedTensor) -> tf.Tensor:
    """Join tokens into text, re-attaching punctuation (rules in the spirit of Moses' detokenizer)."""
    text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, r" ([.,!?;:%)\]}])", r"\1")
    text = tf.strings.regex_replace(text, r"([(\[{]) ", r"\1")
    return tf.strings.regex_replace(text, r" ?(['’-]) ?", r"\1")  # don ' t -> don't, t - shirt -> t-shirt


def python_tokens(texts, lowercase: bool, batch: int = 4096) -> list[list[str]]:
    out = []
    for start in range(0, len(texts), batch):
        ragged = tokenize(tf.constant(texts[start:start + batch], tf.string), lowercase)
        out.extend([[t.decode("utf-8") for t in row] for row in ragged.to_list()])
    return out


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
    sources: list
    targets: list
    where: list  # "file:line" of each pair, for messages

    def __len__(self):
        return len(self.sources)

    def subset(self, indices) -> "Pairs":
        return Pairs([self.sources[i] for i in indices], [self.targets[i] for i in indices],
                     [self.where[i] for i in indices])


def _is_parallel(data, path_string: str) -> bool:
    return data.format == "parallel" or (data.format == "auto" and LANG in path_string)


def read_pairs(data, path_string: str) -> tuple[Pairs, int]:
    """Pairs from a TSV file or two aligned files; returns them and how many had an empty side."""
    if _is_parallel(data, path_string):
        src_path = resolve(path_string.replace(LANG, data.source_lang))
        tgt_path = resolve(path_string.replace(LANG, data.target_lang))
        src = read_lines(src_path, data.encoding, keep_blank=True)
        tgt = read_lines(tgt_path, data.encoding, keep_blank=True)
        if len(src) != len(tgt):
            raise DataError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; aligned files "
                            "need one sentence per line on both sides (check for a truncated file)")
        rows = [(s.strip(), t.strip(), f"{src_path}:{n}") for (n, s), (_, t) in zip(src, tgt)]
    else:
        path = resolve(path_string)
        if LANG in path_string:
            raise ConfigError(f"data path {path_string!r} contains {LANG} but data.format is tsv")
        rows = []
        need = max(data.source_column, data.target_column) + 1
        # read_text, not read_lines: right-stripping would turn "source<TAB>" into "source".
        for number, line in enumerate(read_text(path, data.encoding).split("\n"), start=1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < need:
                raise DataError(f"{path}:{number}: {len(fields)} tab-separated field(s), need at least {need} "
                                f"(source in column {data.source_column}, target in column "
                                f"{data.target_column}, 0-based); is the file tab-separated?")
            rows.append((fields[data.source_column].strip(), fields[data.target_column].strip(),
                         f"{path}:{number}"))
    kept = [row for row in rows if row[0] and row[1]]
    if not kept:
        raise DataError(f"{path_string}: no sentence pairs (the file is empty or every pair has an empty side)")
    return Pairs(*map(list, zip(*kept))), len(rows) - len(kept)


# ---- batching -----------------------------------------------------------------------------------
def _encode(tokens, index, max_length) -> list[int]:
    return [index.get(t, 1) for t in tokens[: max_length - 1]] + [END_ID]


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


# ---- the in-graph translator ----------------------------------------------------------------------
class VocabularyIndex:
    """Word -> id inside the graph without a lookup-table resource.

    Keras' ``StringLookup`` holds a hash-table resource that an export must track explicitly;
    the shared exporter tracks only the model. Here each word is fingerprinted (FarmHash
    Fingerprint64, stable across platforms and versions) and searched in a sorted constant,
    so the graph carries plain tensors. Collisions inside the vocabulary are checked when built.
    """

    BUCKETS = 2 ** 63 - 1

    def __init__(self, vocabulary: list[str]):
        words = vocabulary[len(RESERVED):]
        prints = tf.strings.to_hash_bucket_fast(tf.constant(words or [""], tf.string), self.BUCKETS).numpy()
        if words and len(set(prints.tolist())) != len(words):
            raise DataError("two vocabulary words share a 64-bit fingerprint; change data.min_freq or the "
                            "vocabulary size")
        order = np.argsort(prints, kind="stable")
        self.keys = tf.constant(prints[order], tf.int64)
        self.ids = tf.constant(order + len(RESERVED) if words else [1], tf.int32)

    def __call__(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        prints = tf.strings.to_hash_bucket_fast(tokens.flat_values, self.BUCKETS)
        position = tf.minimum(tf.searchsorted(self.keys, prints), tf.size(self.keys) - 1)
        found = tf.equal(tf.gather(self.keys, position), prints)
        return tokens.with_flat_values(tf.where(found, tf.gather(self.ids, position), 1))  # 1 = [UNK]


class Translator:
    """Raw strings -> translations, all TensorFlow ops (the body of the exported signatures)."""

    def __init__(self, model, state, config):
        self.lowercase = config.data.lowercase
        self.max_length = config.data.max_length
        self.max_output_length = config.model.max_output_length
        self.alpha = config.model.length_penalty
        self.lookup = VocabularyIndex(state["source_vocab"])
        self.target_words = tf.constant(state["target_vocab"])
        self.inference = Seq2SeqInference(model, START_ID, END_ID)

    def source_ids(self, texts):
        tokens = tokenize(texts, self.lowercase)[:, : self.max_length - 1]
        ids = self.lookup(tokens)
        ends = tf.fill([tf.shape(texts)[0], 1], END_ID)
        return tf.concat([ids, tf.RaggedTensor.from_tensor(ends)], axis=1).to_tensor(PAD_ID)

    def __call__(self, texts, beam_width):
        decoded = self.inference.translate_ids(self.source_ids(texts), max_length=self.max_output_length,
                                               beam_width=beam_width, alpha=self.alpha)
        tokens = tf.RaggedTensor.from_tensor(tf.gather(self.target_words, decoded.tokens),
                                             lengths=decoded.lengths)
        return {"translation": detokenize(tokens),
                "tokens": tf.strings.reduce_join(tokens, axis=-1, separator=" "),
                "score": decoded.scores}


class TranslationTask(Task):
    name = "translation"
    data_config = TranslationDataConfig
    model_config = TranslationModelConfig
    default_monitor = "val_loss"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = "Machine translation: raw source sentences in, translations out (seq2seq RNN + attention)."

    # ---- data ----------------------------------------------------------------------------
    def _load_splits(self, config) -> tuple[dict, dict]:
        data = config.data
        empty = {}
        if data.path is None:
            splits = {}
            for split in ("train", "val", "test"):
                splits[split], empty[split] = read_pairs(data, getattr(data, split))
        else:
            full, empty["all"] = read_pairs(data, data.path)
            named = {s: read_pairs(data, getattr(data, s)) if getattr(data, s) else None for s in ("val", "test")}
            fractions = {s: 0.0 if named[s] else getattr(data, f"{s}_fraction") for s in ("val", "test")}
            order = np.random.default_rng(config.seed).permutation(len(full))
            n_test = int(round(fractions["test"] * len(full)))
            n_val = int(round(fractions["val"] * len(full)))
            splits = {"test": full.subset(order[:n_test]), "val": full.subset(order[n_test:n_test + n_val]),
                      "train": full.subset(order[n_test + n_val:])}
            for split in ("val", "test"):
                if named[split]:
                    splits[split], empty[split] = named[split]
                elif not len(splits[split]):
                    raise ConfigError(f"config data: the {split} split is empty; give data.{split} or a larger "
                                      f"data.{split}_fraction")
        if data.max_examples is not None:
            rng = np.random.default_rng(config.seed)
            for split, pairs in splits.items():
                if len(pairs) > data.max_examples:
                    splits[split] = pairs.subset(np.sort(rng.choice(len(pairs), data.max_examples, replace=False)))
        empty = {k: v for k, v in empty.items() if v}
        if empty:
            _warn(f"dropped sentence pairs with an empty side: {empty}")
        return splits, empty

    def prepare(self, config, state=None) -> Prepared:
        data = config.data
        splits, empty = self._load_splits(config)
        tokens = {split: (python_tokens(p.sources, data.lowercase), python_tokens(p.targets, data.lowercase))
                  for split, p in splits.items()}
        # Length policy: drop long training pairs (counted); keep every val/test pair.
        src_tok, tgt_tok = tokens["train"]
        keep = [i for i, (s, t) in enumerate(zip(src_tok, tgt_tok))
                if len(s) < data.max_length and len(t) < data.max_length]
        too_long = len(src_tok) - len(keep)
        if not keep:
            raise DataError(f"every training pair is longer than data.max_length={data.max_length} tokens; "
                            "raise data.max_length")
        splits["train"] = splits["train"].subset(keep)
        tokens["train"] = ([src_tok[i] for i in keep], [tgt_tok[i] for i in keep])
        if state is None:
            state = {"source_vocab": build_vocabulary(tokens["train"][0], data.source_vocab_size, data.min_freq),
                     "target_vocab": build_vocabulary(tokens["train"][1], data.target_vocab_size, data.min_freq)}
        src_index = {w: i for i, w in enumerate(state["source_vocab"])}
        tgt_index = {w: i for i, w in enumerate(state["target_vocab"])}
        ids = {split: ([_encode(s, src_index, data.max_length) for s in src],
                       [_encode(t, tgt_index, data.max_length) for t in tgt])
               for split, (src, tgt) in tokens.items()}
        batch = config.train.batch_size
        train = make_dataset(*ids["train"], batch, seed=config.seed)
        val, test = (make_dataset(*ids[s], batch) for s in ("val", "test"))
        unk = {side: np.mean([r.count(1) / len(r) for r in ids["test"][k]]) for k, side in enumerate(("src", "tgt"))}
        info = {"pairs": ", ".join(f"{s} {len(splits[s])}" for s in ("train", "val", "test")),
                "direction": self._direction(config),
                "vocabulary": f"source {len(state['source_vocab'])}, target {len(state['target_vocab'])} "
                              f"(min_freq {data.min_freq})",
                "test [UNK] rate": f"source {unk['src']:.1%}, target {unk['tgt']:.1%}",
                "dropped": f"{too_long} training pairs longer than {data.max_length} tokens; "
                           f"pairs with an empty side: {empty or 0}"}
        return Prepared(train=train, val=val, test=test, state=state, info=info,
                        extra={"pairs": splits, "tokens": tokens, "ids": ids})

    @staticmethod
    def _direction(config) -> str:
        data = config.data
        paths = [p for p in (data.path, data.train) if p]
        if paths and _is_parallel(data, paths[0]):
            return f"{data.source_lang} -> {data.target_lang}"
        return f"TSV column {data.source_column} -> column {data.target_column}"

    # ---- demo data -----------------------------------------------------------------------

    # ---- model ---------------------------------------------------------------------------
    def build_model(self, config, prepared):
        m = config.model
        return build_seq2seq(len(prepared.state["source_vocab"]), len(prepared.state["target_vocab"]),
                             embedding_dim=m.embedding_dim, encoder=m.encoder.block_kwargs(),
                             decoder_cell=m.decoder_cell, decoder_units=m.decoder_units, attention=m.attention,
                             attention_units=m.attention_units, dropout=m.dropout,
                             tie_embeddings=m.tie_embeddings, scheduled_sampling=m.scheduled_sampling,
                             feed_context=m.feed_context, seed=config.seed, implementation=m.encoder.implementation)

    def compile_args(self, config, prepared) -> dict:
        return {"loss": MaskedSequenceLoss(config.model.label_smoothing), "metrics": [MaskedTokenAccuracy()]}

    # ---- evaluation ----------------------------------------------------------------------
    def translate(self, translator, texts, beam_width, batch_size=64) -> tuple[list[str], list[list[str]]]:
        """Translations and their tokens in input order; batches of similar length decode faster."""
        fn = tf.function(lambda x: translator(x, beam_width),
                         input_signature=[tf.TensorSpec([None], tf.string)])
        lengths = [len(t.split()) for t in texts]
        text_out, tokens_out = [""] * len(texts), [[] for _ in texts]
        for rows in _length_batches(lengths, batch_size):
            out = fn(tf.constant([texts[i] for i in rows], tf.string))
            for i, text, toks in zip(rows, out["translation"].numpy(), out["tokens"].numpy()):
                text_out[i], tokens_out[i] = text.decode("utf-8"), toks.decode("utf-8").split()
        return text_out, tokens_out

    def evaluate(self, model, config, prepared, split, run) -> dict:
        pairs = prepared.extra["pairs"][split]
        ref_tokens = prepared.extra["tokens"][split][1]
        logits_fn = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
        nll, count = 0.0, 0
        for inputs, targets in prepared.split(split):
            batch_nll, batch_count = masked_token_nll(targets.numpy(), logits_fn(inputs).numpy())
            nll, count = nll + batch_nll, count + batch_count
        translator = Translator(model, prepared.state, config)
        started = time.time()
        hyps, hyp_tokens = self.translate(translator, pairs.sources, config.model.beam_width)
        seconds = time.time() - started
        lower = config.data.lowercase
        sacre = sacrebleu_scores(hyps, pairs.targets, lowercase=lower)
        metrics = {"bleu": sacre["bleu"], "chrf": sacre["chrf"],
                   "bleu_tokenized": tokenized_bleu(hyp_tokens, ref_tokens),
                   **rouge_scores(hyp_tokens, ref_tokens), "perplexity": perplexity(nll, count)}
        if config.model.eval_greedy and config.model.beam_width > 1:
            greedy, greedy_tokens = self.translate(translator, pairs.sources, 1)
            metrics["bleu_greedy"] = sacrebleu_scores(greedy, pairs.targets, lowercase=lower)["bleu"]
            metrics["bleu_tokenized_greedy"] = tokenized_bleu(greedy_tokens, ref_tokens)
        metrics["sentences_per_second"] = len(hyps) / max(seconds, 1e-9)
        metrics["sentences"] = float(len(hyps))
        prepared.info["metrics"] = (
            f"bleu/chrf: sacreBLEU on detokenized output ({sacre['bleu_signature']}; {sacre['chrf_signature']}); "
            "bleu_tokenized: BLEU-4 on our lower-cased word tokens (the older papers' convention); "
            f"rouge1/2/L: rouge-score F1 x100 on tokens; perplexity: teacher-forced, no label smoothing; "
            f"decoding: beam {config.model.beam_width}, length penalty {config.model.length_penalty} "
            "(bleu_greedy: greedy)")
        self._write_predictions(run.path / f"translations_{split}.tsv", pairs, hyps)
        self._attention_plots(translator, prepared, split, hyp_tokens, run, config.model.attention_plots)
        return metrics

    @staticmethod
    def _write_predictions(path, pairs, hyps):
        clean = lambda s: s.replace("\t", " ").replace("\n", " ")  # noqa: E731
        with atomic_path(path) as tmp:
            tmp.write_text("source\treference\ttranslation\n" + "".join(
                f"{clean(s)}\t{clean(r)}\t{clean(h)}\n" for s, r, h in zip(pairs.sources, pairs.targets, hyps)),
                encoding="utf-8")

    @staticmethod
    def _attention_plots(translator, prepared, split, hyp_tokens, run, n):
        src_tokens = prepared.extra["tokens"][split][0]
        src_ids = prepared.extra["ids"][split][0]
        tgt_index = {w: i for i, w in enumerate(prepared.state["target_vocab"])}
        for i in range(min(n, len(src_ids))):
            out_ids = [tgt_index.get(t, 1) for t in hyp_tokens[i]]
            weights = translator.inference.attention_map(src_ids[i], out_ids)
            source = src_tokens[i][: len(src_ids[i]) - 1] + [END]
            save_attention_heatmap(np.array(weights), source, hyp_tokens[i] + [END],
                                   run.plots_dir / f"attention_{split}_{i}.png", title=f"Attention ({split} #{i})")

    def baselines(self, config, prepared, split) -> dict:
        """Copying the source sentence: what names, numbers and shared words alone score."""
        pairs = prepared.extra["pairs"][split]
        src_tokens, ref_tokens = prepared.extra["tokens"][split]
        sacre = sacrebleu_scores(pairs.sources, pairs.targets, lowercase=config.data.lowercase)
        return {"copy_source": {"bleu": sacre["bleu"], "chrf": sacre["chrf"],
                                "bleu_tokenized": tokenized_bleu(src_tokens, ref_tokens)}}

    def headline_metrics(self) -> list[str]:
        return ["bleu", "bleu_tokenized", "chrf", "perplexity", "bleu_greedy"]

    # ---- export and predict --------------------------------------------------------------
    def serving_functions(self, model, config, prepared) -> dict:
        translator = Translator(model, prepared.state, config)
        spec = [tf.TensorSpec([None], tf.string, name="source")]
        beam = config.model.beam_width
        return {"serving_default": Signature(lambda source: translator(source, beam), spec),
                "translate_greedy": Signature(lambda source: translator(source, 1), spec)}

    def serving_example(self, config, prepared) -> dict:
        sources = prepared.extra["pairs"]["test"].sources[:3]
        # A unicode array, not dtype=object: it saves with np.savez and loads without pickle.
        return {"source": np.array(sources + ["", "ein " * 200 + "hund ."], dtype=str)}

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        """One sentence per line in, one translation per line out (blank lines stay blank)."""
        lines = [line for _, line in read_lines(input_path, config.data.encoding, keep_blank=True)]
        out = []
        for start in range(0, len(lines), 64):
            chunk = lines[start:start + 64]
            result = serve(source=tf.constant(chunk, tf.string))["translation"].numpy()
            out.extend("" if not src.strip() else t.decode("utf-8") for src, t in zip(chunk, result))
        with atomic_path(Path(output_path)) as tmp:
            tmp.write_text("".join(f"{t}\n" for t in out), encoding="utf-8")
        return {"sentences": len(lines), "blank lines": sum(1 for line in lines if not line.strip())}


TASK = TranslationTask()
