"""Pretrain once, fine-tune everywhere: encoders initialised from language-model runs (ULMFiT, ELMo/TagLM).

A task with an embedding layer and a `RecurrentBlock` (sentiment, ner) takes both from
`tasks.language_model` runs: ``model.pretrained_encoder`` names a forward LM run (or a folder
holding ``forward/`` and ``backward/`` runs, as the recipe writes), ``model.pretrained_encoder_backward``
a backward one for the backward half of a bidirectional encoder. ``model.pretraining.enabled`` trains
those runs first, on the task's training texts plus ``model.pretraining.extra_text`` (plain text, or the
``text_column`` of CSV / TSV / JSON Lines files; never its val or test split: `common.data.leakage`
refuses extra text that holds them), into the run folder's ``pretrained_lm/`` (`with_pretraining_folder`).

In ``prepare``: `pretrain` (the recipe), `load_encoder` (read the runs, map the vocabularies by string,
check the shapes; counts and the LM's metrics go into the state and the report). In ``build_model``:
`assign_encoder` copies the weights (``pretrained_as: init``, ULMFiT), or `language_model_features`
adds the frozen language models beside the task's own encoder (``pretrained_as: features``, ELMo /
TagLM). In ``callbacks``: `FineTuneSchedule` (frozen or gradual unfreezing, discriminative learning
rates, warm-up), through per-layer learning-rate multipliers.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from common import config as cfg
from common.config import option, section
from common.data.datasets import resolve
from common.data.leakage import EvaluationIndex, check_disjoint
from common.data.text import _open_bytes, read_text
from common.errors import ConfigError, DataError, warn
from common.io import atomic_write_text, read_json
from common.run import RunFolder

LM_SPECIALS = {"": "", "[UNK]": "<unk>"}  # task padding / unknown token -> the language model's
FINE_TUNE = ("gradual", "frozen", "all")
PRETRAINED_AS = ("init", "features")


@dataclass
class PretrainingConfig:
    enabled: bool = option(False, "Train forward (and, for a bidirectional encoder, backward) language "
                           "models first, on the training texts plus extra_text, and start from them.")
    extra_text: list[str] = option([], "Unlabelled text files added to the training texts: plain text "
                                   "(one text per line), or CSV / TSV / JSON Lines (told by the suffix: "
                                   ".csv, .tsv, .jsonl; .gz read too) whose text_column holds the text, "
                                   "e.g. imdb/train.csv.gz. Never the task's val or test data: lines that "
                                   "are its val/test texts are refused (leakage_tolerance).")
    text_column: str = option("text", "Column (CSV/TSV header) or key (JSON Lines) of the extra_text files "
                              "that holds the text; plain text files have none.")
    encoding: str = option("utf-8", "Text encoding of the extra_text files.")
    leakage_tolerance: float = option(0.001, "Share of the run's distinct val + test texts that may also "
                                      "be lines of extra_text (case, spacing and punctuation ignored) "
                                      "before the recipe refuses it; a tolerated few (a generic sentence "
                                      "such as 'he gave no further details' recurs in large corpora) are "
                                      "warned about (0: refuse any).", min=0.0, max=1.0)
    epochs: int = option(5, "Language-model training epochs.", min=1)
    in_domain_epochs: int = option(0, "ULMFiT's second stage: after the first (the training texts plus "
                                   "extra_text), the language models train this many more epochs on the "
                                   "training texts alone, so they end on the task's own text (0: no second "
                                   "stage). Needs extra_text.", min=0)
    batch_size: int = option(32, "Parallel streams of the language model.", min=1)
    bptt: int = option(35, "Language-model window length in tokens.", min=2)
    learning_rate: float = option(0.002, "Language-model learning rate.", positive=True)
    dropout: float = option(0.2, "Dropout between the language model's recurrent layers.", min=0.0, max=0.9)
    max_tokens: int = option(30000, "Language-model vocabulary cap (most frequent words).", min=3)
    sampled_softmax: int = option(0, "Train the language models against this many sampled words instead of "
                                  "the whole vocabulary (the language-model task's model.sampled_softmax), "
                                  "so a wider encoder fits the same time (0: the full softmax).", min=0)
    val_fraction: float = option(0.05, "Share of the pretraining text (its end) used for early stopping.",
                                 min=0.01, max=0.5)
    run_dir: str | None = option(None, "Where the language-model runs go (null: pretrained_lm/ in the "
                                 "run folder, as --run-dir gives it).")


@dataclass
class PretrainedEncoderOptions:
    """Model-config keys of a task whose embedding and recurrent encoder can start from language models."""

    pretrained_encoder: str | None = option(None, "Language-model run folder (forward), or a folder with "
                                            "forward/ and backward/ runs: the embedding and recurrent "
                                            "encoder start from it (null: random).")
    pretrained_encoder_backward: str | None = option(None, "Backward language-model run "
                                                     "(data.direction: backward) for the backward half of a "
                                                     "bidirectional encoder.")
    pretraining: PretrainingConfig = section(PretrainingConfig, "Pretrain the language models first.")
    pretrained_as: str = option("init", "How the task uses the language models: init (ULMFiT: its embedding "
                                "and recurrent encoder start from them and fine-tune) or features (ELMo / "
                                "TagLM: they run frozen, and the task's own randomly started encoder reads "
                                "their states beside its word embedding, so fine-tuning cannot wash out "
                                "what they learnt and their shape may differ from the encoder's).",
                                choices=list(PRETRAINED_AS))
    fine_tune: str = option("all", "Pretrained layers: gradual (ULMFiT: the new layers first, then one "
                            "more pretrained layer from the top each epoch), frozen (never trained) or all "
                            "(trained from the start).", choices=list(FINE_TUNE))
    lr_factor: float = option(1.0, "Discriminative learning rates: each pretrained layer down the stack "
                              "learns this many times slower than the one above (1: same rate).", min=1.0)
    warmup_epochs: float = option(0.0, "Linear learning-rate warm-up over this many epochs with a pretrained "
                                  "encoder (0: none).", min=0.0)

    def validate(self):
        if self.pretraining.enabled and self.pretrained_encoder:
            raise ConfigError("config key 'model.pretraining.enabled': it trains a new language model; "
                              "remove model.pretrained_encoder, or set model.pretraining.enabled: false")
        if self.pretrained_encoder_backward and not self.pretrained_encoder:
            raise ConfigError("config key 'model.pretrained_encoder_backward' needs model.pretrained_encoder "
                              "(the forward language model)")
        if self.pretraining.in_domain_epochs and not self.pretraining.extra_text:
            raise ConfigError("config key 'model.pretraining.in_domain_epochs': without extra_text the first "
                              "stage already reads the training texts alone; add extra_text or set it to 0")
        if self.pretrained_as == "features" and (self.fine_tune != "all" or self.lr_factor != 1.0):
            raise ConfigError("config key 'model.fine_tune' / 'model.lr_factor': with model.pretrained_as: "
                              "features the language models stay frozen and the encoder starts random; "
                              "leave fine_tune: all and lr_factor: 1")
        if getattr(self, "pretrained_vectors", None) and self.uses_pretrained_encoder:
            raise ConfigError("config key 'model.pretrained_vectors': the embedding comes from the language "
                              "model; remove model.pretrained_vectors or the pretrained encoder")

    @property
    def uses_pretrained_encoder(self) -> bool:
        return bool(self.pretrained_encoder or self.pretraining.enabled)


# ---- reading language-model runs ---------------------------------------------------------------------
@dataclass
class LanguageModelRun:
    """What an encoder takes from a finished language-model run."""

    path: Path
    direction: str
    vocabulary: list[str]
    embeddings: np.ndarray  # [LM vocabulary, embedding_dim]
    cells: list[list[np.ndarray]]  # per recurrent layer, the cell's weights (kernel first)
    norms: list[list[np.ndarray]]  # per gap between layers, the layer norm's weights
    cell: str
    units: int
    metrics: dict

    def describe(self) -> str:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items()
                          if k in ("perplexity", "bits_per_char") and isinstance(v, (int, float)))
        return f"{self.path} ({self.direction} LM{', test ' + shown if shown else ''})"


def read_language_model(folder, key: str, granularity: str = "word",
                        recipe: str = "model.pretraining.enabled: true") -> LanguageModelRun:
    """A finished language-model run of ``granularity``; `DataError` naming ``key`` (and the ``recipe``
    setting that would train one) when it is not one."""
    from common.registry import get_task  # the language-model task registers the layers model.keras needs

    run = RunFolder(folder)
    if not (run.config_path.exists() and run.state_path.exists() and run.model_path.exists()):
        raise DataError(f"config key '{key}': {run.path} is not a finished language-model run (it needs "
                        "config.yaml, state.json and model.keras); train one with python -m "
                        f"tasks.language_model train, or set {recipe}")
    state = read_json(run.state_path)
    if "vocabulary" not in state or state.get("granularity", "word") != granularity:
        raise DataError(f"config key '{key}': {run.path} is not a {granularity}-level language-model run; "
                        f"train one with data.granularity: {granularity}")
    get_task("language_model")
    model = keras.saving.load_model(str(run.model_path), compile=False)
    recurrent = model.get_layer("recurrent")
    metrics = read_json(run.metrics_path).get("test", {}) if run.metrics_path.exists() else {}
    return LanguageModelRun(path=run.path, direction=state.get("direction", "forward"),
                            vocabulary=list(state["vocabulary"]),
                            embeddings=keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings),
                            cells=[rnn.get_weights() for rnn in recurrent.rnns],
                            norms=[norm.get_weights() for norm in recurrent.norms],
                            cell=recurrent.cell, units=recurrent.units, metrics=metrics)


def language_model_runs(folder, backward_path=None, key: str = "model.pretrained_encoder", granularity: str = "word",
                        recipe: str = "model.pretraining.enabled: true",
                        ) -> tuple[LanguageModelRun, LanguageModelRun | None]:
    """The forward run and the backward one (None when not given): ``folder`` is a forward run or holds
    ``forward/`` and ``backward/`` runs. ``key`` names the config key in errors (``<key>_backward`` the
    backward run's), ``recipe`` the setting that trains them instead."""
    folder = Path(folder)
    if (folder / "forward").is_dir() and not (folder / "config.yaml").exists():
        backward_path = backward_path or ((folder / "backward") if (folder / "backward").is_dir() else None)
        folder = folder / "forward"
    forward = read_language_model(folder, key, granularity, recipe)
    if forward.direction != "forward":
        raise DataError(f"config key '{key}': {forward.path} is a {forward.direction} language model; "
                        f"name it in {key}_backward (or as <folder>/backward) and give a forward one")
    backward = None
    if backward_path:
        backward = read_language_model(backward_path, f"{key}_backward", granularity, recipe)
        if backward.direction != "backward":
            raise DataError(f"config key '{key}_backward': {backward.path} is a forward "
                            "language model; train one with data.direction: backward")
    return forward, backward


# ---- vocabularies and shapes -------------------------------------------------------------------------
def map_vocabulary(task_vocabulary: list[str], lm_vocabulary: list[str]) -> tuple[np.ndarray, dict]:
    """For each task token the row of the same string in the LM's vocabulary (-1: new to the LM), and
    the counts: words ``shared`` with the LM, ``new`` to it, LM words ``unused`` by the task (the
    padding and unknown tokens map to the LM's and are not counted; neither is the LM's ``<eos>``)."""
    index = {token: i for i, token in enumerate(lm_vocabulary)}
    rows = np.array([index.get(LM_SPECIALS.get(token, token), -1) for token in task_vocabulary],
                    dtype="int64")
    words = [i for i, token in enumerate(task_vocabulary) if token not in LM_SPECIALS]
    shared = int(np.sum(rows[words] >= 0))
    lm_words = set(lm_vocabulary) - set(LM_SPECIALS.values()) - {"<eos>"}
    counts = {"shared": shared, "new": len(words) - shared, "unused": len(lm_words - set(task_vocabulary))}
    return rows, counts


def embedding_rows(lm: LanguageModelRun, rows: np.ndarray, frozen: bool = False) -> np.ndarray:
    """The task's embedding matrix: the LM's vector for every shared token. New words start from the mean
    LM vector (as ULMFiT), so they begin as an average word rather than noise of another scale; for a
    ``frozen`` LM, which will never learn them, they read as its unknown word, as it was trained to."""
    new = lm.embeddings[lm.vocabulary.index("<unk>")] if frozen else lm.embeddings[1:].mean(axis=0)
    return np.where(rows[:, None] >= 0, lm.embeddings[np.maximum(rows, 0)], new).astype("float32")


def check_side_by_side(forward: LanguageModelRun, backward: LanguageModelRun | None) -> None:
    """One `ConfigError` unless `language_model_features` can run the two frozen LMs as one bidirectional
    block: the same shape, and no layer norm between layers (it would normalise both directions together)."""
    if backward is None:
        return
    if forward.norms or backward.norms:
        raise ConfigError(f"the language models in {forward.path} and {backward.path} normalise between their "
                          "layers, which a bidirectional block of frozen language models cannot do per "
                          "direction; use model.pretrained_as: init, or language models with "
                          "model.rnn.layer_norm: false")
    def shape(lm):
        return lm.cell, lm.units, len(lm.cells), lm.embeddings.shape[1]

    if shape(forward) != shape(backward):
        raise ConfigError(f"the language models in {forward.path} and {backward.path} differ in shape; frozen "
                          "language models run side by side need a forward and a backward one of one shape")


def side_by_side_embeddings(vocabulary: list[str], forward: LanguageModelRun,
                            backward: LanguageModelRun | None) -> np.ndarray:
    """For frozen LMs (`language_model_features`): each ``vocabulary`` entry's vector in the forward LM,
    then in the backward one, side by side, so each direction reads its own LM's vectors; words new to an
    LM read as its unknown word."""
    return np.concatenate([embedding_rows(lm, map_vocabulary(vocabulary, lm.vocabulary)[0], frozen=True)
                           for lm in (forward, backward) if lm is not None], axis=1)


def check_fits(lm: LanguageModelRun, embedding_dim: int, rnn, embedding_key: str = "model.embedding_dim"):
    """One `ConfigError` naming the keys to change when the encoder's shape differs from the LM's."""
    problems = []
    if lm.embeddings.shape[1] != embedding_dim:
        problems.append(f"{embedding_key}: {lm.embeddings.shape[1]} (is {embedding_dim})")
    for key, lm_value, value in (("cell", lm.cell, rnn.cell), ("units", lm.units, rnn.units),
                                 ("layers", len(lm.cells), rnn.layers),
                                 ("layer_norm", bool(lm.norms), rnn.layer_norm and rnn.layers > 1)):
        if lm_value != value:
            problems.append(f"model.rnn.{key}: {lm_value} (is {value})")
    if problems:
        raise ConfigError(f"the language model in {lm.path} does not fit the encoder; set "
                          f"{', '.join(problems)}, or pretrain a language model of this shape")
    if rnn.bidirectional and rnn.layer_norm and rnn.layers > 1:
        raise ConfigError("config key 'model.rnn.layer_norm': a bidirectional stack normalises both "
                          "directions together, which no language model did; set model.rnn.layer_norm: false")


@dataclass
class PretrainedEncoder:
    """Weights for one task's encoder, ready for `assign_encoder` (or `language_model_features`), and what
    the report says about them."""

    embeddings: np.ndarray  # one row per task vocabulary entry (features: forward LM's, then backward's)
    forward: LanguageModelRun
    backward: LanguageModelRun | None
    summary: dict  # JSON-able: kept in state.json; its "info" lines go into the report


def load_encoder(options, task_vocabulary: list[str], embedding_dim: int, rnn, folder) -> PretrainedEncoder:
    """Read the language-model runs in ``folder`` (and options.pretrained_encoder_backward), check they
    fit, map the vocabulary by string."""
    forward, backward = language_model_runs(folder, options.pretrained_encoder_backward)
    features = options.pretrained_as == "features"
    if features:
        check_side_by_side(forward, backward)
    else:
        for lm in (forward, backward):
            if lm is not None:
                check_fits(lm, embedding_dim, rnn)
        if backward is not None and not rnn.bidirectional:
            raise ConfigError("config key 'model.pretrained_encoder_backward': the encoder reads one direction; "
                              "set model.rnn.bidirectional: true or remove the backward language model")
        if rnn.bidirectional and backward is None:
            warn("the backward half of the encoder starts random: give model.pretrained_encoder_backward "
                 "(a language model trained with data.direction: backward)")
    rows, counts = map_vocabulary(task_vocabulary, forward.vocabulary)
    new_words = "read as the LM's <unk>" if features else "start from the mean LM vector"
    info = {"pretrained encoder": "; ".join(lm.describe() for lm in (forward, backward) if lm is not None),
            "pretrained vocabulary": (f"{counts['shared']} words shared with the language model, "
                                      f"{counts['new']} new ({new_words}), "
                                      f"{counts['unused']} LM words unused"),
            "fine-tuning": fine_tune_description(options)}
    summary = {"forward": str(forward.path), "forward_metrics": forward.metrics,
               "backward": str(backward.path) if backward else None,
               "backward_metrics": backward.metrics if backward else None, "vocabulary": counts, "info": info}
    embeddings = (side_by_side_embeddings(task_vocabulary, forward, backward) if features
                  else embedding_rows(forward, rows))
    return PretrainedEncoder(embeddings, forward, backward, summary)


def fine_tune_description(options) -> str:
    if options.pretrained_as == "features":
        return (f"language models frozen, their top-layer states read beside the word embedding by an encoder "
                f"that starts random (ELMo / TagLM), {options.warmup_epochs:g} warm-up epoch(s)")
    mode = {"gradual": "gradual unfreezing (new layers first, then one more pretrained layer from the top "
                       "each epoch)", "frozen": "pretrained layers frozen", "all": "all layers trained"}
    return (f"{mode[options.fine_tune]}, learning rate / {options.lr_factor:g} per layer down the stack, "
            f"{options.warmup_epochs:g} warm-up epoch(s)")


# ---- copying the weights -----------------------------------------------------------------------------
def _copy_cell(layer, weights: list[np.ndarray], row: int, other_rows_zero: bool) -> None:
    """LM cell weights into ``layer``, whose kernel may read a wider input: the LM's kernel goes into rows
    ``row:row + n``; the other rows are zeroed (the other direction's outputs, so the layer computes what
    the LM's did) or kept (the task's own extra features, e.g. NER's characters and casing)."""
    current = layer.get_weights()
    kernel = np.zeros_like(current[0]) if other_rows_zero else current[0].copy()
    kernel[row:row + weights[0].shape[0]] = weights[0]
    layer.set_weights([kernel, *weights[1:]])


def assign_encoder(embedding, block, encoder: PretrainedEncoder) -> None:
    """Copy the LM weights into a built Embedding and `RecurrentBlock` (forward LM into the forward layers,
    backward LM into a bidirectional block's backward layers)."""
    embedding.embeddings.assign(encoder.embeddings)
    _assign_recurrent(block, encoder, side_by_side=False)


def _assign_recurrent(block, encoder: PretrainedEncoder, side_by_side: bool) -> None:
    """The LMs' cells and norms into ``block``. Above the first layer a bidirectional layer reads both
    directions' outputs, so each direction's kernel gets its LM's rows and zeros for the other's. In the
    first layer, with ``side_by_side`` embeddings (`side_by_side_embeddings`) each direction reads its
    own half the same way; otherwise both read the whole input (the shared embedding, and the task's own
    extra features, whose rows stay as they are)."""
    width = encoder.forward.embeddings.shape[1]
    for i, rnn in enumerate(block.rnns):
        if isinstance(rnn, keras.layers.Bidirectional):
            zero = side_by_side or i > 0
            _copy_cell(rnn.forward_layer, encoder.forward.cells[i], 0, other_rows_zero=zero)
            if encoder.backward is not None:
                row = block.units if i else (width if side_by_side else 0)
                _copy_cell(rnn.backward_layer, encoder.backward.cells[i], row, other_rows_zero=zero)
        else:
            _copy_cell(rnn, encoder.forward.cells[i], 0, other_rows_zero=False)
    for norm, weights in zip(block.norms, encoder.forward.norms):
        norm.set_weights(weights)


def language_model_features(ids, encoder: PretrainedEncoder, implementation: str = "auto", prefix: str = "lm"):
    """ELMo / TagLM: the language models' top-layer states for each token of ``ids`` (ids into the rows of
    ``encoder.embeddings``, 0 = padding), forward and backward concatenated ``[batch, time, units x
    directions]``, from a frozen embedding and recurrent block (``<prefix>_embedding``,
    ``<prefix>_recurrent``) holding the LMs' weights.
    The task concatenates them to its word features; no gradient reaches the language models.

    Each direction reads its own LM's word vectors: the embedding holds both side by side, and the first
    layer's forward kernel reads the first half, the backward kernel the second (the other rows zero)."""
    from common.layers.recurrent import RNNConfig, recurrent_block

    forward, backward = encoder.forward, encoder.backward
    embedding = keras.layers.Embedding(*encoder.embeddings.shape, mask_zero=True, trainable=False,
                                       name=f"{prefix}_embedding")
    rnn = RNNConfig(cell=forward.cell, units=forward.units, layers=len(forward.cells),
                    bidirectional=backward is not None, layer_norm=bool(forward.norms),
                    implementation=implementation)
    block = recurrent_block(rnn, return_sequences=True, name=f"{prefix}_recurrent")
    states = block(embedding(ids))
    embedding.embeddings.assign(encoder.embeddings)
    _assign_recurrent(block, encoder, side_by_side=True)
    block.trainable = False
    return states


# ---- fine-tuning schedule ----------------------------------------------------------------------------
class FineTuneSchedule(keras.callbacks.Callback):
    """Frozen / gradual unfreezing, discriminative learning rates and warm-up, as per-layer learning-rate
    multipliers.

    Keras 3 has no per-variable learning rate, and gradient scaling would not do (Adam divides the scale
    away), so the compiled optimizer's ``update_step`` is wrapped to multiply its learning rate by the
    multiplier of the variable's layer group. A multiplier of 0 freezes a group (its Adam moments still
    follow the gradients). ``groups`` lists the pretrained layers bottom to top (embedding, recurrent
    layer 0, 1, ...); every other layer is the new head, always trained. Multipliers are set at each epoch
    start (and each step of the warm-up) from the epoch number only, so a resumed run gets the same ones.
    """

    def __init__(self, groups: list[list], mode: str, factor: float, warmup_epochs: float):
        super().__init__()
        self.groups, self.mode, self.factor, self.warmup_epochs = groups, mode, factor, warmup_epochs
        self.multipliers = None
        self.epoch = 0

    def group_multipliers(self, epoch: int) -> np.ndarray:
        """Index 0: the head; then the pretrained groups bottom to top (depth ``d`` below the head)."""
        out = [1.0]
        for position in range(len(self.groups)):
            depth = len(self.groups) - position
            trained = self.mode == "all" or (self.mode == "gradual" and depth <= epoch)
            out.append(self.factor ** -depth if trained else 0.0)
        return np.array(out, dtype="float32")

    def _assign(self, batch: int) -> None:
        steps = self.params.get("steps") or 1
        ramp = 1.0
        if self.warmup_epochs:
            ramp = min(1.0, (self.epoch * steps + batch + 1) / (self.warmup_epochs * steps))
        self.multipliers.assign(self.group_multipliers(self.epoch) * ramp)

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        self.multipliers = tf.Variable(self.group_multipliers(0), trainable=False)
        index = {optimizer._var_key(v): g + 1 for g, group in enumerate(self.groups) for v in group}
        update_step, multipliers = optimizer.update_step, self.multipliers

        def scaled_update_step(gradient, variable, learning_rate):
            scale = tf.cast(multipliers[index.get(optimizer._var_key(variable), 0)], learning_rate.dtype)
            return update_step(gradient, variable, learning_rate * scale)

        optimizer.update_step = scaled_update_step

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._assign(0)

    def on_train_batch_begin(self, batch, logs=None):
        if self.warmup_epochs and self.epoch < self.warmup_epochs:
            self._assign(batch)


def fine_tune_callbacks(options, embedding, block) -> list:
    """The schedule for an encoder built by `assign_encoder` (the layers' trainable weights, bottom up);
    with frozen language-model features only the warm-up, over the whole model."""
    if options.pretrained_as == "features":
        return [FineTuneSchedule([], "all", 1.0, options.warmup_epochs)] if options.warmup_epochs else []
    groups = [list(embedding.trainable_weights)]
    for i, rnn in enumerate(block.rnns):
        groups.append(list(rnn.trainable_weights) + (list(block.norms[i].trainable_weights)
                                                     if i < len(block.norms) else []))
    return [FineTuneSchedule(groups, options.fine_tune, options.lr_factor, options.warmup_epochs)]


# ---- the recipe: pretrain on the task's own text -----------------------------------------------------
EXTRA_TEXT = "model.pretraining.extra_text"
_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_JSON_LINES = (".jsonl", ".ndjson", ".json")


def read_unlabelled(path_string: str, text_column: str = "text", encoding: str = "utf-8",
                    ) -> tuple[Path, list[tuple[int, str]]]:
    """An ``extra_text`` file's texts as ``(line, text)``: one per non-blank line of a plain file, or the
    ``text_column`` of a CSV / TSV / JSON Lines file (by suffix, ``.gz`` ignored; a CSV record that spans
    lines gives its first). Paths resolve as data paths ($RNNSUITE_DATA). One `DataError` naming the file
    and the fix for a missing, binary, empty or undecodable file, or a missing column."""
    try:
        path = resolve(path_string)
    except DataError as exc:
        raise DataError(f"{EXTRA_TEXT}: {exc}; correct the path or remove it from {EXTRA_TEXT}") from None
    kinds = f"plain text (one text per line) or a CSV / TSV / JSON Lines file with a '{text_column}' column"
    binary = DataError(f"{EXTRA_TEXT}: {path} is a binary file (NUL bytes), not text; name {kinds} (UTF-16 "
                       "text: set model.pretraining.encoding: utf-16)")
    try:
        text = read_text(path, encoding)
    except DataError as exc:
        raw = _open_bytes(path) if "text (byte 0x" in str(exc) else b""
        if b"\x00" in raw[:65536] and raw[:2] not in (b"\xff\xfe", b"\xfe\xff"):
            raise binary from None
        message = str(exc).replace("data.encoding", "model.pretraining.encoding")
        raise DataError(f"{EXTRA_TEXT}: {message}") from None
    if "\x00" in text[:65536]:
        raise binary
    if not text.strip():
        raise DataError(f"{EXTRA_TEXT}: {path} is empty; fill it with {kinds}, or remove it from "
                        f"{EXTRA_TEXT}")
    lines = text.split("\n")
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in _DELIMITERS:
        texts = _delimited_column(path, lines, _DELIMITERS[suffix], text_column)
    elif suffix in _JSON_LINES:
        texts = _json_lines_key(path, lines, text_column)
    else:
        texts = [(number, line.rstrip()) for number, line in enumerate(lines, start=1) if line.strip()]
    if not texts:
        raise DataError(f"{EXTRA_TEXT}: {path} holds no texts (only a header or blank ones); fill it or "
                        f"remove it from {EXTRA_TEXT}")
    return path, texts


def _delimited_column(path: Path, lines: list[str], delimiter: str, column: str) -> list[tuple[int, str]]:
    """CSV (RFC 4180 quoting, strict) or TSV (no quoting); each text with the line its record starts on."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter, quoting=quoting, strict=True)
    start, texts = 1, []
    try:
        header = [cell.strip() for cell in next(reader)]
        if column not in header:
            shown = ", ".join(repr(h) for h in header)
            raise DataError(f"{EXTRA_TEXT}: {path}:{reader.line_num}: no text column {column!r}; the header "
                            f"has {shown}; set model.pretraining.text_column to one of them")
        at = header.index(column)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise DataError(f"{EXTRA_TEXT}: {path}:{line}: {len(row)} fields but the header has "
                                f"{len(header)}; quote fields that hold the separator")
            texts.append((line, row[at]))
    except csv.Error as exc:
        raise DataError(f"{EXTRA_TEXT}: {path}:{start}: malformed CSV ({exc}); check the quoting") from None
    return texts


def _json_lines_key(path: Path, lines: list[str], key: str) -> list[tuple[int, str]]:
    texts = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{EXTRA_TEXT}: {path}:{number}: not valid JSON ({exc.msg}); JSON Lines needs "
                            "one object per line") from None
        if not isinstance(record, dict) or not isinstance(record.get(key), str):
            raise DataError(f"{EXTRA_TEXT}: {path}:{number}: no text under the key {key!r}; set "
                            "model.pretraining.text_column to the key that holds the text")
        texts.append((number, record[key]))
    return texts


def pretraining_text(options, train_lines: list[str], standardise, tokenise, extra_text: list[str],
                     evaluation_texts: dict[str, list[str]] | None = None) -> str:
    """The task's training texts (as its model reads them) plus the ``extra_text`` files (``tokenise``d
    first, as the task's data), one text per line, all ``standardise``d like the task's vocabulary lookups.
    Every extra file is read and checked against ``evaluation_texts`` (``{split: texts}``, the run's val and
    test texts) by `check_disjoint` before anything trains."""
    p = options.pretraining
    index = EvaluationIndex(evaluation_texts or {}) if extra_text else None
    extra = []
    for path_string in extra_text:
        path, texts = read_unlabelled(path_string, p.text_column, p.encoding)
        check_disjoint(path, texts, index, p.leakage_tolerance)
        extra.extend(text for _, text in texts)
    if tokenise is not None:
        extra = [tokenise(line) for line in extra]
    lines = [" ".join(line.split()) for line in standardise(list(train_lines) + extra)]
    lines = [line for line in lines if line]
    if not lines:
        raise DataError("model.pretraining: the training texts and extra_text hold no words to pretrain on")
    return "\n".join(lines) + "\n"


def with_pretraining_folder(config, run_path: Path):
    """``config`` with the folders of the language models a recipe trains first set inside the run folder
    when not given: ``model.pretraining.run_dir`` to ``<run_path>/pretrained_lm`` when that recipe is on,
    and ``model.char_lm.run_dir`` (ner's character LMs) to ``<run_path>/char_lm`` when those train first.
    Each run keeps its own language models (two --run-dir runs of one config would otherwise share, and
    retrain over, ``runs/<task>/<name>/pretrained_lm``), and its config.yaml says where they are.
    `RunFolder.clear` leaves those folders alone."""
    model = getattr(config, "model", None)
    pretraining, char_lm = getattr(model, "pretraining", None), getattr(model, "char_lm", None)
    values = {}
    if pretraining is not None and pretraining.enabled and not pretraining.run_dir:
        values["model.pretraining.run_dir"] = str(Path(run_path) / "pretrained_lm")
    if char_lm is not None and char_lm.epochs and not char_lm.run_dir:
        values["model.char_lm.run_dir"] = str(Path(run_path) / "char_lm")
    return cfg.with_values(config, values) if values else config


def pretrain(task_name: str, config, train_lines: list[str], standardise, tokenise=None, log=print,
             evaluation_texts: dict[str, list[str]] | None = None) -> Path:
    """Train the language models of the recipe (both directions for a bidirectional encoder) unless a
    finished run with the same config and text is there already; return their folder. The extra text is
    read and checked against ``evaluation_texts`` (`pretraining_text`) before any folder is made.

    With ``in_domain_epochs`` a second pair starts from the first and trains on the training texts
    alone, in ``in_domain/``; that folder is returned. The global seeds are set again afterwards, so
    the task's model starts the same whether the language models were trained now or reused."""
    from common.training import seed_everything

    p = config.model.pretraining
    default = RunFolder.default(task_name, config.name).path / "pretrained_lm"
    folder = Path(p.run_dir) if p.run_dir else default
    text = pretraining_text(config.model, train_lines, standardise, tokenise, p.extra_text, evaluation_texts)
    _train_language_models(task_name, config, folder, text, p.epochs, None, log)
    if p.in_domain_epochs:
        own_text = pretraining_text(config.model, train_lines, standardise, tokenise, [])
        _train_language_models(task_name, config, folder / "in_domain", own_text, p.in_domain_epochs, folder, log)
        folder = folder / "in_domain"
    seed_everything(config.seed, config.train.deterministic)
    return folder


def _train_language_models(task_name: str, config, folder: Path, text: str, epochs: int, init_from, log):
    """The recipe's word-level language models (both directions for a bidirectional encoder) on ``text``,
    shaped like the task's encoder, each started from the same direction's run in ``init_from`` if given."""
    m = config.model
    p, rnn = m.pretraining, m.rnn
    raw = {"data": {"granularity": "word", "val_fraction": p.val_fraction, "max_tokens": p.max_tokens,
                    "bptt": p.bptt},
           "model": {"embedding_dim": m.embedding_dim, "sampled_softmax": p.sampled_softmax,
                     "rnn": {"cell": rnn.cell, "units": rnn.units, "layers": rnn.layers,
                             "layer_norm": rnn.layer_norm, "dropout": p.dropout,
                             "implementation": rnn.implementation}},
           "train": {"epochs": epochs, "batch_size": p.batch_size, "learning_rate": p.learning_rate}}
    directions = ("forward", "backward") if rnn.bidirectional else ("forward",)
    train_language_models(config, folder, f"{task_name}_{config.name}", text, raw, directions, init_from, log)


def train_language_models(config, folder: Path, name: str, text: str, raw: dict, directions, init_from=None,
                          log=print):
    """One `tasks.language_model` run per direction in ``folder/<direction>``, on ``text`` (kept as
    ``folder/corpus.txt``), from the config dict ``raw`` (its data, model and train sections). Filled in
    here, the same for every recipe: the task's seed, verbosity and determinism, one stream of the whole
    text with no test split, a cosine schedule with clipping and early stopping, the run's name,
    data.path and data.direction (and, with ``init_from``, model.init_from: each run starts from the same
    direction's run there). A finished run of the same config and text is reused, so a rerun of the
    task, or one killed here, trains only what is missing."""
    from common import lifecycle
    from common.registry import get_task

    raw = {"task": "language_model", "seed": config.seed,
           "data": {"test_fraction": 0.0, "batching": "stream", **raw["data"]},
           "model": raw["model"],
           "train": {"clipnorm": 0.5, "lr_schedule": "cosine", "early_stopping_patience": 2, "tensorboard": False,
                     "verbose": config.train.verbose, "deterministic": config.train.deterministic, **raw["train"]}}

    corpus = folder / "corpus.txt"
    folder.mkdir(parents=True, exist_ok=True)
    if not corpus.exists() or corpus.read_text(encoding="utf-8") != text:
        atomic_write_text(corpus, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    lm_task = get_task("language_model")
    stage = "in-domain " if init_from else ""
    kind = "character " if raw["data"].get("granularity") == "char" else ""
    for direction in directions:
        run_raw = {**raw, "name": f"{name}_{direction}_{digest}",
                   "data": {**raw["data"], "path": str(corpus.resolve()), "direction": direction},
                   "model": dict(raw["model"])}
        if init_from:
            run_raw["model"]["init_from"] = str((Path(init_from) / direction).resolve())
        lm_config = cfg.from_dict(lm_task.config_class, run_raw)
        run = RunFolder(folder / direction)
        if run.is_finished() and lifecycle.load_config(lm_task, run.config_path, saved_run=True) == lm_config:
            log(f"Pretraining: reusing the {stage}{direction} {kind}language model in {run.path}")
            continue
        log(f"Pretraining the {stage}{direction} {kind}language model in {run.path}")
        lifecycle.train(lm_task, lm_config, run.path, overwrite=True, log=log)


def with_encoder(config, prepared, state_given: bool, task_name: str, vocabulary: list[str], train_lines,
                 standardise, tokenise=None, *, evaluation_texts: dict[str, list[str]]):
    """``prepared`` with its ``encoder`` field, report lines and state entry, as a task's prepare returns it.
    ``evaluation_texts`` (``{"val": texts, "test": texts}``, as the task reads them) are what the recipe's
    extra text may not contain (`common.data.leakage`).

    With a saved state (evaluate, export) the weights are in model.keras already: only the report lines
    come back, from the state."""
    import dataclasses

    m = config.model
    if not m.uses_pretrained_encoder:
        return prepared
    if state_given:
        summary = prepared.state.get("pretrained_encoder", {})
        return dataclasses.replace(prepared, info={**prepared.info, **summary.get("info", {})})
    folder = m.pretrained_encoder
    if m.pretraining.enabled:
        folder = pretrain(task_name, config, train_lines, standardise, tokenise,
                          evaluation_texts=evaluation_texts)
    encoder = load_encoder(m, vocabulary, m.embedding_dim, m.rnn, folder)
    return dataclasses.replace(prepared, encoder=encoder, info={**prepared.info, **encoder.summary["info"]},
                               state={**prepared.state, "pretrained_encoder": encoder.summary})
