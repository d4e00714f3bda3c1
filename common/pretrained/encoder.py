"""A task's encoder from language-model runs: the vocabulary mapped by string, the shapes checked, the
embedding rows built (`load_encoder` -> `PretrainedEncoder`); `common.pretrained.transfer` puts them
into the task's layers."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.errors import ConfigError, warn
from common.pretrained.runs import LanguageModelRun, language_model_runs
from common.pretrained.schedule import fine_tune_description

LM_SPECIALS = {"": "", "[UNK]": "<unk>"}  # task padding / unknown token -> the language model's


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
