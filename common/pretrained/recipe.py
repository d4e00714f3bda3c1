"""The recipe: train the language models first (through the lifecycle of `tasks.language_model`), then
start the task's encoder from them; it sits above `common.lifecycle`, which knows nothing of it (a task's
`Task.with_run_folder` calls `with_pretraining_folder`)."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from common import config as cfg
from common import lifecycle
from common.errors import UserError
from common.io import atomic_write_text
from common.pretrained.corpus import pretraining_text
from common.pretrained.encoder import load_encoder
from common.registry import get_task
from common.run import RunFolder
from common.training import seed_everything


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
    direction's run there). A finished run of the same config and text is reused and an interrupted
    one resumed, so a rerun of the task, or one killed here, trains only what is missing and ends as an
    uninterrupted run would."""
    raw = {"task": "language_model", "seed": config.seed,
           "data": {"test_fraction": 0.0, "batching": "stream", **raw["data"]},
           "model": raw["model"],
           "train": {"clipnorm": 0.5, "lr_schedule": "cosine", "early_stopping_patience": 2, "tensorboard": False,
                     "verbose": config.train.verbose, "deterministic": config.train.deterministic,
                     "precision": config.train.precision, **raw["train"]}}

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
        same = _saved_config(lm_task, run) == lm_config
        if same and run.is_finished():
            log(f"Pretraining: reusing the {stage}{direction} {kind}language model in {run.path}")
            continue
        if not same:
            run.clear()  # another text or settings: no backup or model of that run may carry over
        log(f"Pretraining the {stage}{direction} {kind}language model in {run.path}")
        # a run killed here resumes from its backup, or (killed after training) only evaluates and exports
        lifecycle.train(lm_task, lm_config, run.path, log=log)


def _saved_config(lm_task, run: RunFolder):
    """The config a language-model run in ``run`` was started with; None when there is none (or it is
    unreadable: that run is then trained anew)."""
    if not run.config_path.exists():
        return None
    try:
        return lifecycle.load_config(lm_task, run.config_path, saved_run=True)
    except UserError:
        return None


def with_encoder(config, prepared, state_given: bool, task_name: str, vocabulary: list[str], train_lines,
                 standardise, tokenise=None, *, evaluation_texts: dict[str, list[str]]):
    """``prepared`` with its ``encoder`` field, report lines and state entry, as a task's prepare returns it.
    ``evaluation_texts`` (``{"val": texts, "test": texts}``, as the task reads them) are what the recipe's
    extra text may not contain (`common.data.leakage`).

    With a saved state (evaluate, export) the weights are in model.keras already: only the report lines
    come back, from the state."""
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
