"""Character language-model features for the tagger (Akbik et al. 2018's contextual string embeddings).

A forward and a backward character-level `tasks.language_model` run read each sentence as a line of
text (cased, words joined by spaces); the tagger takes, for each word, the forward LM's state after its
last character and the backward LM's state at its first, and adds them to its word features. The
language models stay frozen (`common.pretrained.transfer.language_model_features`).
``model.char_lm.path`` names finished runs; ``model.char_lm.epochs`` trains them first, on the training
sentences plus ``model.char_lm.extra_text`` (never the val or test split), into the run folder's ``char_lm/``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from common.config import option
from common.data.datasets import resolve
from common.data.text import read_lines
from common.errors import ConfigError, DataError
from common.pretrained.encoder import PretrainedEncoder, check_side_by_side, side_by_side_embeddings
from common.pretrained.recipe import train_language_models
from common.pretrained.runs import language_model_runs
from common.pretrained.transfer import language_model_features
from common.run import RunFolder
from tasks.ner.layers import SentenceChars, WordEdges

KEY = "model.char_lm.path"


@dataclass
class CharLMConfig:
    path: str | None = option(None, "Character-level language-model runs (data.granularity: char): a folder "
                              "with forward/ and backward/ runs, whose states at each word's edges join the "
                              "word features, frozen (null: none, unless epochs > 0).")
    epochs: int = option(0, "Train the forward and backward character language models first, for this many "
                         "epochs, on the training sentences as written plus extra_text, into char_lm/ in "
                         "the run folder (0: none; or give path).", min=0)
    extra_text: list[str] = option([], "Unlabelled text files (one sentence per line) the character language "
                                   "models also read; never the val or test data.")
    encoding: str = option("utf-8", "Text encoding of the extra_text files.")
    units: int = option(256, "LSTM units of each character language model.", min=1)
    embedding_dim: int = option(32, "Character embedding size of the language models.", min=1)
    bptt: int = option(100, "Language-model window length in characters.", min=2)
    batch_size: int = option(32, "Parallel streams of the language models.", min=1)
    learning_rate: float = option(0.002, "Language-model learning rate.", positive=True)
    run_dir: str | None = option(None, "Where the recipe's runs go (null: char_lm/ in the run folder).")

    def validate(self):
        if self.path and self.epochs:
            raise ConfigError("config key 'model.char_lm.epochs': it trains new character language models; "
                              "remove model.char_lm.path, or set model.char_lm.epochs: 0")

    @property
    def enabled(self) -> bool:
        return bool(self.path or self.epochs)


def char_lm_text(options: CharLMConfig, train_lines: list[str]) -> str:
    """The training sentences as written plus the extra_text files' lines, one line each."""
    extra = [line for path in options.extra_text for _, line in read_lines(resolve(path), options.encoding)]
    lines = [" ".join(line.split()) for line in list(train_lines) + extra]
    return "\n".join(line for line in lines if line) + "\n"


def pretrain_char_lms(config, train_lines: list[str], log=print) -> Path:
    """The recipe's forward and backward character language models (reused when finished with the same
    config and text); their folder."""
    c = config.model.char_lm
    folder = Path(c.run_dir) if c.run_dir else RunFolder.default("ner", config.name).path / "char_lm"
    raw = {"data": {"granularity": "char", "val_fraction": 0.05, "bptt": c.bptt},
           "model": {"embedding_dim": c.embedding_dim,
                     "rnn": {"cell": "lstm", "units": c.units, "layers": 1,
                             "implementation": config.model.rnn.implementation}},
           "train": {"epochs": c.epochs, "batch_size": c.batch_size, "learning_rate": c.learning_rate}}
    train_language_models(config, folder, f"ner_{config.name}_char", char_lm_text(c, train_lines), raw,
                          ("forward", "backward"), log=log)
    return folder


def load_char_lms(folder) -> PretrainedEncoder:
    """The forward and backward character LMs in ``folder`` as one frozen encoder over the forward LM's
    character vocabulary (the backward LM's rows mapped to it by string)."""
    forward, backward = language_model_runs(folder, key=KEY, granularity="char",
                                            recipe="model.char_lm.epochs: 10 (and no path)")
    if backward is None:
        raise DataError(f"config key '{KEY}': {folder} holds no backward character language model; give a "
                        "folder with forward/ and backward/ runs (data.direction: backward)")
    check_side_by_side(forward, backward)
    embeddings = side_by_side_embeddings(forward.vocabulary, forward, backward)
    info = {"character language models": "; ".join(lm.describe() for lm in (forward, backward)) +
            f"; {len(forward.vocabulary) - 3} characters, frozen, read at each word's edges"}
    summary = {"forward": str(forward.path), "backward": str(backward.path), "info": info,
               "forward_metrics": forward.metrics, "backward_metrics": backward.metrics}
    return PretrainedEncoder(embeddings, forward, backward, summary)


def with_char_lm(config, prepared, state_given: bool):
    """``prepared`` with its ``char_lm`` encoder (trained first when model.char_lm.epochs is set), report
    lines and state entry; with a saved state only the report lines (the weights are in model.keras)."""
    c = config.model.char_lm
    if not c.enabled:
        return prepared
    if state_given:
        summary = prepared.state.get("char_lm", {})
        return dataclasses.replace(prepared, info={**prepared.info, **summary.get("info", {})})
    folder = c.path or pretrain_char_lms(config, [" ".join(s.tokens) for s in prepared.sentences["train"]])
    encoder = load_char_lms(folder)
    return dataclasses.replace(prepared, char_lm=encoder, info={**prepared.info, **encoder.summary["info"]},
                               state={**prepared.state, "char_lm": encoder.summary})


def char_lm_features(tokens, encoder: PretrainedEncoder, implementation: str):
    """``[batch, words, 2 x units]``: the frozen character LMs' states at each word's edges."""
    ids, first, last = SentenceChars(encoder.forward.vocabulary[2:], name="sentence_chars")(tokens)
    states = language_model_features(ids, encoder, implementation, prefix="char_lm")
    return WordEdges(name="char_lm_edges")([states, first, last])
