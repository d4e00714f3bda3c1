"""Named-entity recognition: a BiLSTM(-CRF) sequence tagger over CoNLL or JSON Lines data.

Data: CoNLL column files (token and tag columns from the config, ``-DOCSTART-``
skipped, blank lines between sentences) or JSON Lines ``{"tokens", "tags"}``.
Tags are read in the file's scheme (``data.scheme``), converted to the model's
(``model.tag_scheme``, BIOES by default as in Lample et al. 2016) and converted
back for every output; repairs of ill-formed tags are counted and reported.

Model (Lample et al. 2016 / Ma & Hovy 2016): the model takes the raw token
strings ``[batch, words]`` (padded with ""), so vocabulary and character lookups
live inside it, and therefore inside ``model.keras`` and the SavedModel:
word embedding (lower-cased lookup plus a small casing embedding, or
case-preserving; word dropout to learn the unknown-word vector; optional GloVe
vectors) + a char BiLSTM or char CNN word encoder -> the shared recurrent block
-> per-token emission scores -> a linear-chain CRF (`common.layers.crf`) or softmax.

Early stopping watches ``val_f1``: entity F1 on the validation split, decoded
like at test time and added to the logs by a callback after each epoch.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common.config import BaseDataConfig, option, section
from common.data.datasets import resolve
from common.data.text import read_lines
from common.errors import ConfigError, DataError
from common.io import atomic_path
from common.layers.char_encoders import CharIds, char_encoder
from common.layers.crf import CRF, CRFTagger
from common.layers.recurrent import RNNConfig, recurrent_block
from common.metrics.tagging import tagging_metrics
from common.task import Demo, Prepared, Signature, Task
from tasks.ner import demo_data
from tasks.ner.tags import (
    OUTSIDE,
    SCHEMES,
    TaggedSentence,
    allowed_transitions,
    check_tags,
    convert,
    convert_tags_tf,
    entities,
    read_conll,
    read_jsonl,
    read_tagged,
    write_conll,
)

PAD, UNKNOWN = "", "[UNK]"
LENGTH_BUCKETS = [8, 16, 24, 32, 48, 64]  # sentence lengths (tokens) where training batches are cut
CASING_PATTERNS = [  # (name, RE2 pattern); the first full match wins, ids follow this order from 2
    ("numeric", r"\PL*\d\PL*"),
    ("all_upper", r"[^\p{Ll}]*\p{Lu}[^\p{Ll}]*"),
    ("initial_upper", r"\p{Lu}.*"),
    ("has_digit", r".*\d.*"),
    ("lower", r"\p{Ll}+"),
    ("mixed", r".*\pL.*"),
]


@dataclass
class NERDataConfig(BaseDataConfig):
    format: str = option("auto", "File format: conll, jsonl ({\"tokens\": [...], \"tags\": [...]} per line), "
                         "or auto (.jsonl/.json suffix means jsonl).", choices=["auto", "conll", "jsonl"])
    token_column: int = option(0, "CoNLL column of the token (0-based; negative counts from the end).")
    tag_column: int = option(-1, "CoNLL column of the tag (0-based; -1: the last column).")
    scheme: str = option("iob2", "Tagging scheme of the data files; predictions are written in it too.",
                         choices=list(SCHEMES))
    encoding: str = option("utf-8", "Text encoding of the data files.")
    val_fraction: float = option(0.1, "Share of the sentences of data.path used for validation (seeded "
                                 "shuffle) when data.val is not given.", min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path used for the test split when data.test is "
                                  "not given.", min=0.0, max=0.9)
    unseen_tags: str = option("error", "Val/test tags never seen in training: stop with an error naming the "
                              "line, or read them as O (counted in the log).", choices=["error", "outside"])
    max_sentences: int | None = option(None, "Use only the first N sentences of each split (quick runs).",
                                       min=1)

    def validate(self):
        if self.path is not None and self.train is not None:
            raise ConfigError("config data: set data.path (split by the task) or data.train, not both")


@dataclass
class NERModelConfig:
    tag_scheme: str = option("bioes", "Scheme the model learns and decodes in (BIOES marks entity ends "
                             "explicitly).", choices=list(SCHEMES))
    crf: bool = option(True, "Linear-chain CRF output layer (Viterbi decoding); false: softmax per token.")
    constrained_decoding: bool = option(True, "Viterbi never takes a transition that is illegal in the "
                                        "tag scheme (e.g. O -> I-PER).")
    lowercase: bool = option(True, "Look words up lower-cased (casing comes from model.casing_dim); false: "
                             "case-preserving vocabulary.")
    casing_dim: int = option(8, "Size of the casing-feature embedding (all upper, initial upper, numeric...; "
                             "0: none).", min=0)
    min_word_count: int = option(1, "Training words seen fewer times are out of vocabulary.", min=1)
    max_vocabulary: int | None = option(None, "Keep at most this many most frequent words (null: all).",
                                        min=1)
    word_dim: int = option(100, "Word embedding size (must match pretrained_vectors if given).", min=1)
    pretrained_vectors: str | None = option(None, "GloVe/word2vec text file of word vectors (null: random "
                                            "initialisation).")
    vectors_encoding: str = option("utf-8", "Encoding of the pretrained vectors file.")
    trainable_embeddings: bool = option(True, "Fine-tune the word embeddings.")
    word_dropout: float = option(0.05, "Share of training tokens replaced by the unknown word, so the "
                                 "unknown-word vector is learned.", min=0.0, max=0.9)
    char_encoder: str = option("bilstm", "Character-level word encoder.", choices=["bilstm", "cnn", "none"])
    char_dim: int = option(30, "Character embedding size.", min=1)
    char_units: int = option(25, "Char BiLSTM units per direction, or char CNN filters.", min=1)
    max_word_chars: int = option(20, "Words are cut to this many characters for the char encoder.", min=1)
    dropout: float = option(0.5, "Dropout on the word representations and on the recurrent outputs.",
                            min=0.0, max=0.9)
    rnn: RNNConfig = section(RNNConfig, "Recurrent encoder over words (bidirectional for tagging).")


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---- in-graph token features (TensorFlow string ops: the suite runs Keras on TensorFlow) ------------


@keras.saving.register_keras_serializable(package="rnnsuite")
class Lowercase(keras.layers.Layer):
    """Unicode-aware lower-casing of token strings."""

    def call(self, tokens):
        return tf.strings.lower(tokens, encoding="utf-8")

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rnnsuite")
class Casing(keras.layers.Layer):
    """Token strings -> casing class ids (0 padding, 1 other, then `CASING_PATTERNS` in order)."""

    def call(self, tokens):
        ids = tf.ones_like(tokens, dtype=tf.int32)
        for index, (_, pattern) in reversed(list(enumerate(CASING_PATTERNS, start=2))):
            ids = tf.where(tf.strings.regex_full_match(tokens, pattern), index, ids)
        return tf.where(tf.equal(tokens, PAD), 0, ids)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="rnnsuite")
class WordDropout(keras.layers.Layer):
    """While training, replace a share of known word ids by the unknown-word id (1)."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, ids, training=None):
        if not training or self.rate == 0:
            return ids
        drop = keras.random.uniform(tf.shape(ids), seed=self.seed_generator) < self.rate
        return tf.where(tf.logical_and(drop, ids > 1), tf.ones_like(ids), ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="rnnsuite")
class TokenMask(keras.layers.Layer):
    """Pass features through with the mask "word id is not padding (0)".

    Keras' ``Concatenate`` ORs the masks of its inputs (an unmasked input counts as
    all-true), so the word mask is lost when char and casing features join; this
    puts it back before the recurrent layers.
    """

    def call(self, inputs):
        return inputs[0]

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs[1], 0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


# ---- decoding shared by evaluation, the val-F1 callback and the export ------------------------------


def tag_ids(model, tokens, use_crf: bool, constrained: bool):
    """Best tag ids ``[batch, words]`` and the validity mask for padded token strings."""
    valid = tf.not_equal(tokens, PAD)
    emissions = model(tokens, training=False)
    if use_crf:
        ids = model.crf.decode(emissions, valid, constrained=constrained)
    else:
        ids = tf.argmax(emissions, axis=-1, output_type=tf.int32)
    return ids, valid


def predict_tags(model, config, tags: list[str], sentences: list[list[str]], batch_size=128):
    """Model-scheme tags for tokenised sentences (batched by length so little is padded)."""
    m = config.model
    decode = tf.function(lambda t: tag_ids(model, t, m.crf, m.constrained_decoding),
                         input_signature=[tf.TensorSpec([None, None], tf.string)])
    order = np.argsort([len(s) for s in sentences], kind="stable")
    out: list[list[str] | None] = [None] * len(sentences)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(1, max(len(sentences[i]) for i in chunk))
        padded = [sentences[i] + [PAD] * (width - len(sentences[i])) for i in chunk]
        ids, _ = decode(tf.constant(padded, dtype=tf.string))
        for row, i in zip(ids.numpy(), chunk):
            out[i] = [tags[j] for j in row[:len(sentences[i])]]
    return out


class ValF1(keras.callbacks.Callback):
    """Adds ``val_f1`` (entity F1, conlleval-compatible) to the epoch logs, for early stopping."""

    def __init__(self, config, tags, sentences):
        super().__init__()
        self.config, self.tags = config, tags
        self.tokens = [s.tokens for s in sentences]
        self.gold = [s.tags for s in sentences]

    def on_epoch_end(self, epoch, logs=None):
        pred = predict_tags(self.model, self.config, self.tags, self.tokens)
        f1 = tagging_metrics(self.gold, pred, self.config.model.tag_scheme)["f1"]
        if logs is not None:
            logs["val_f1"] = f1


# ---- the task -------------------------------------------------------------------------------------


class NERTask(Task):
    name = "ner"
    data_config = NERDataConfig
    model_config = NERModelConfig
    default_monitor = "val_f1"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = ("Named-entity recognition: tokens in, one entity tag per token out "
                   "(BiLSTM with char features and a CRF).")
    predict_input_help = ("Raw text with one whitespace-tokenised sentence per line, a CoNLL file (tokens in "
                          "data.token_column; its columns are echoed), or JSON Lines {\"tokens\": [...]}. "
                          "Writes CoNLL with the predicted tag last, and <output stem>.entities.jsonl.")

    # ---- data ----------------------------------------------------------------------------
    def _read(self, data, path_string):
        return read_tagged(resolve(path_string), data.format, data.token_column, data.tag_column,
                           data.encoding)

    def _load_splits(self, config) -> dict[str, list[TaggedSentence]]:
        data = config.data
        if data.path is None:
            splits = {split: self._read(data, getattr(data, split)) for split in ("train", "val", "test")}
        else:
            full = self._read(data, data.path)
            named = {s: self._read(data, getattr(data, s)) for s in ("val", "test") if getattr(data, s)}
            order = np.random.default_rng(config.seed).permutation(len(full))
            n_test = 0 if "test" in named else int(round(len(full) * data.test_fraction))
            n_val = 0 if "val" in named else int(round(len(full) * data.val_fraction))
            picked = [full[i] for i in order]
            splits = {"test": named.get("test", picked[:n_test]),
                      "val": named.get("val", picked[n_test:n_test + n_val]),
                      "train": picked[n_test + n_val:]}
            for split in ("train", "val", "test"):
                if not splits[split]:
                    raise ConfigError(f"config data: the {split} split of {data.path} is empty; give "
                                      f"data.{split} or a larger data.{split}_fraction")
        if data.max_sentences is not None:
            splits = {k: v[:data.max_sentences] for k, v in splits.items()}
        return {k: splits[k] for k in ("train", "val", "test")}

    def _to_model_scheme(self, config, splits) -> dict[str, int]:
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
                _warn(f"{split} data: repaired {count} ill-formed tag(s) for scheme {config.data.scheme} (an "
                      f"I- tag following nothing starts an entity, as in conlleval), first at {first}")
                repairs[split] = count
        return repairs

    def _fit_state(self, config, train) -> dict:
        m = config.model
        tokens = [t for s in train for t in s.tokens]
        forms = tokens
        if m.lowercase:  # lower-case with the same op the model uses, so lookups always agree
            forms = [t.decode("utf-8") for t in
                     tf.strings.lower(tf.constant(tokens), encoding="utf-8").numpy().tolist()]
        counts = Counter(forms)
        words = sorted((w for w, c in counts.items() if c >= m.min_word_count and w not in (PAD, UNKNOWN)),
                       key=lambda w: (-counts[w], w))[:m.max_vocabulary]
        chars = Counter(c for t in tokens for c in t)
        # Every prefix of the scheme for every entity type seen, so that e.g. a multi-word LOC in the
        # test data is known even if training only had one-word ones (S-LOC but no B-LOC in BIOES).
        kinds = sorted({t.partition("-")[2] for s in train for t in s.tags if t != OUTSIDE})
        prefixes = "BIES" if m.tag_scheme == "bioes" else "BI"
        tags = [OUTSIDE] + [f"{p}-{kind}" for kind in kinds for p in prefixes]
        return {"tags": tags, "vocabulary": words, "chars": sorted(chars, key=lambda c: (-chars[c], c)),
                "data_scheme": config.data.scheme, "tag_scheme": m.tag_scheme}

    def _check_unseen(self, config, splits, tags) -> dict[str, int]:
        known, replaced = set(tags), {}
        for split, sentences in splits.items():
            for sentence in sentences:
                for i, tag in enumerate(sentence.tags):
                    if tag in known:
                        continue
                    if config.data.unseen_tags == "error":
                        path = sentence.source.rsplit(":", 1)[0]
                        raise DataError(f"{path}:{sentence.lines[i]}: tag {sentence.raw_tags[i]!r}: its entity "
                                        f"type never occurs in the training data ({split} split); fix the "
                                        "data or set data.unseen_tags: outside to read such tags as O")
                    sentence.tags[i] = OUTSIDE
                    replaced[split] = replaced.get(split, 0) + 1
        for split, n in replaced.items():
            _warn(f"{split} data: {n} tag(s) unseen in training read as O (data.unseen_tags: outside)")
        return replaced

    def prepare(self, config, state=None) -> Prepared:
        splits = self._load_splits(config)
        repairs = self._to_model_scheme(config, splits)
        if state is None:
            state = self._fit_state(config, splits["train"])
        if state.get("tag_scheme") != config.model.tag_scheme:
            raise ConfigError(f"model.tag_scheme is {config.model.tag_scheme} but the run was trained with "
                              f"{state.get('tag_scheme')}; keep the trained run's setting")
        replaced = self._check_unseen(config, splits, state["tags"])
        index = {tag: i for i, tag in enumerate(state["tags"])}
        batch = config.train.batch_size

        def dataset(sentences):
            """(tokens, tag ids) per sentence, unpadded: batches are padded with "" and -1 later."""
            width = max(len(s.tokens) for s in sentences)
            tokens = np.array([s.tokens + [PAD] * (width - len(s.tokens)) for s in sentences], dtype=object)
            ids = np.array([[index[t] for t in s.tags] + [-1] * (width - len(s.tags)) for s in sentences],
                           dtype="int32")
            lengths = np.array([len(s.tokens) for s in sentences], dtype="int32")
            return tf.data.Dataset.from_tensor_slices((tokens, ids, lengths)).map(
                lambda t, y, n: (t[:n], y[:n]))

        train = dataset(splits["train"]).shuffle(len(splits["train"]), seed=config.seed,
                                                 reshuffle_each_iteration=True)
        train = train.bucket_by_sequence_length(
            lambda tokens, _: tf.shape(tokens)[0], LENGTH_BUCKETS, [batch] * (len(LENGTH_BUCKETS) + 1),
            padding_values=(PAD, -1)).prefetch(tf.data.AUTOTUNE)
        ordered = {split: dataset(splits[split]).padded_batch(batch, padding_values=(PAD, -1))
                   .prefetch(tf.data.AUTOTUNE) for split in ("val", "test")}
        info = {"tag scheme": f"data {config.data.scheme}, model {config.model.tag_scheme}",
                "tags": ", ".join(state["tags"]),
                "vocabulary": f"{len(state['vocabulary'])} words, {len(state['chars'])} characters"}
        for split, sentences in splits.items():
            n_entities = sum(len(entities(s.tokens, s.tags, config.model.tag_scheme)) for s in sentences)
            info[f"{split} data"] = (f"{len(sentences)} sentences, {sum(len(s.tokens) for s in sentences)} "
                                     f"tokens, {n_entities} entities")
        if repairs:
            info["tag repairs"] = str(repairs)
        if replaced:
            info["unseen tags read as O"] = str(replaced)
        return Prepared(train=train, val=ordered["val"], test=ordered["test"], state=state, info=info,
                        extra={"sentences": splits})

    # ---- demo data -----------------------------------------------------------------------

    # ---- model ---------------------------------------------------------------------------
    def _pretrained_matrix(self, config, prepared):
        m = config.model
        from common.data.vectors import load_vectors

        rows = [PAD, UNKNOWN] + prepared.state["vocabulary"]
        matrix, hits = load_vectors(resolve(m.pretrained_vectors), rows, m.word_dim,
                                    encoding=m.vectors_encoding, seed=config.seed)
        prepared.info["pretrained vectors"] = f"{m.pretrained_vectors}: {hits} of {len(rows) - 2} words found"
        return matrix

    def build_model(self, config, prepared):
        m, state = config.model, prepared.state
        n_tags = len(state["tags"])
        tokens = keras.Input(shape=(None,), dtype="string", name="tokens")
        words = Lowercase(name="lowercase")(tokens) if m.lowercase else tokens
        ids = keras.layers.StringLookup(vocabulary=state["vocabulary"], mask_token=PAD, num_oov_indices=1,
                                        output_mode="int", name="word_lookup")(words)
        kept = WordDropout(m.word_dropout, seed=config.seed, name="word_dropout")(ids) if m.word_dropout else ids
        word_embedding = keras.layers.Embedding(len(state["vocabulary"]) + 2, m.word_dim, mask_zero=True,
                                                trainable=m.trainable_embeddings, name="word_embedding")
        features = [word_embedding(kept)]
        if m.pretrained_vectors:  # assigned, not a Constant initializer: keeps model.keras' config small
            word_embedding.embeddings.assign(self._pretrained_matrix(config, prepared))
        if m.char_encoder != "none":
            chars = CharIds(state["chars"], m.max_word_chars, name="char_ids")(tokens)
            features.append(char_encoder(m.char_encoder, len(state["chars"]) + 2, m.char_dim, m.char_units)(chars))
        if m.casing_dim:
            casing = Casing(name="casing")(tokens)
            features.append(keras.layers.Embedding(len(CASING_PATTERNS) + 2, m.casing_dim,
                                                   name="casing_embedding")(casing))
        x = keras.layers.Concatenate(name="word_features")(features) if len(features) > 1 else features[0]
        x = TokenMask(name="token_mask")([x, ids])
        x = keras.layers.Dropout(m.dropout, name="feature_dropout")(x)
        x = recurrent_block(m.rnn, return_sequences=True)(x)
        x = keras.layers.Dropout(m.dropout, name="output_dropout")(x)
        emissions = keras.layers.Dense(n_tags, dtype="float32", name="emissions")(x)
        if not m.crf:
            return keras.Model(tokens, emissions, name="ner_tagger")
        allowed = allowed_transitions(state["tags"], m.tag_scheme) if m.constrained_decoding else None
        return CRFTagger(tokens, CRF(n_tags, allowed=allowed, name="crf")(emissions), name="ner_tagger")

    def compile_args(self, config, prepared) -> dict:
        if config.model.crf:
            return {"loss": None}  # CRFTagger.compute_loss: the CRF negative log-likelihood
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)}

    def callbacks(self, model, config, prepared) -> list:
        return [ValF1(config, prepared.state["tags"], prepared.extra["sentences"]["val"])]

    # ---- evaluation ----------------------------------------------------------------------
    def evaluate(self, model, config, prepared, split, run) -> dict:
        sentences = prepared.extra["sentences"][split]
        state, m = prepared.state, config.model
        pred = predict_tags(model, config, state["tags"], [s.tokens for s in sentences], config.train.batch_size)
        metrics = tagging_metrics([s.tags for s in sentences], pred, m.tag_scheme)
        metrics["sentences"] = len(sentences)
        metrics["tokens"] = sum(len(s.tokens) for s in sentences)
        rows = []
        for sentence, tags in zip(sentences, pred):
            out, _ = convert(tags, m.tag_scheme, config.data.scheme)
            rows.append([[tok, gold, guess] for tok, gold, guess in
                         zip(sentence.tokens, sentence.raw_tags, out)])
        write_conll(run.path / f"predictions_{split}.conll", rows)  # token gold predicted (conlleval input)
        return metrics

    def baselines(self, config, prepared, split) -> dict:
        """Each token's most frequent training tag (O for unseen words), entity spans repaired like
        conlleval: the CoNLL-2003 shared task's baseline in spirit (known names tagged, nothing learned)."""
        scheme = config.model.tag_scheme
        by_word: dict[str, Counter] = {}
        for sentence in prepared.extra["sentences"]["train"]:
            for token, tag in zip(sentence.tokens, convert(sentence.tags, scheme, "iob2")[0]):
                by_word.setdefault(token, Counter())[tag] += 1
        gold, pred = [], []
        for sentence in prepared.extra["sentences"][split]:
            guess = [by_word[t].most_common(1)[0][0] if t in by_word else OUTSIDE for t in sentence.tokens]
            gold.append(sentence.tags)
            pred.append(convert(guess, "iob2", scheme)[0])
        scores = tagging_metrics(gold, pred, scheme)
        return {"most_frequent_tag": {k: v for k, v in scores.items() if isinstance(v, float)}}

    def headline_metrics(self) -> list[str]:
        return ["f1", "precision", "recall", "strict_f1", "token_accuracy"]

    # ---- export and predict --------------------------------------------------------------
    def serving_functions(self, model, config, prepared) -> dict:
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
            tokens = tf.strings.split(sentences).to_tensor(default_value=PAD)
            return {"tokens": tokens, "tags": tag(tokens)}

        return {"serving_default": Signature(serve, [tf.TensorSpec([None, None], tf.string, name="tokens")]),
                "sentences": Signature(serve_sentences, [tf.TensorSpec([None], tf.string, name="sentences")])}

    def serving_example(self, config, prepared) -> dict:
        sentences = [s.tokens for s in prepared.extra["sentences"]["test"][:3]]
        sentences += [["Zxqwv", "Ünïcödé", "visited", "Ouagadougou", "."], []]
        width = max(len(s) for s in sentences)
        return {"tokens": np.array([s + [PAD] * (width - len(s)) for s in sentences], dtype=str)}

    @staticmethod
    def _read_predict_input(config, path: Path) -> tuple[str, list[TaggedSentence]]:
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

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        """Tags every sentence; writes CoNLL (input columns + predicted tag) and ``<output>.entities.jsonl``."""
        fmt, sentences = self._read_predict_input(config, Path(input_path))
        order = np.argsort([len(s.tokens) for s in sentences], kind="stable")
        predicted: list[list[str] | None] = [None] * len(sentences)
        for start in range(0, len(order), 64):
            chunk = order[start:start + 64]
            width = max(len(sentences[i].tokens) for i in chunk)
            batch = [sentences[i].tokens + [PAD] * (width - len(sentences[i].tokens)) for i in chunk]
            tags = serve(tokens=tf.constant(batch, dtype=tf.string))["tags"].numpy()
            for row, i in zip(tags, chunk):
                predicted[i] = [t.decode("utf-8") for t in row[:len(sentences[i].tokens)]]
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


TASK = NERTask()
