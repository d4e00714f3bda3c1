"""Language modelling: word- or character-level next-token prediction, and text generation.

Data: plain text files (`data`): word tokens with an ``<eos>`` per line, or
characters; stream batching with the state carried across windows (truncated
BPTT) or independent lines. Model: embedding, the shared recurrent cells, a
softmax over the vocabulary (`model`, `layers`). Metrics: perplexity or bits per
character over every token, with unigram and Kneser-Ney baselines (`evaluate`).
Export: generation and scoring on raw strings (`export`). A run can start from
another one's vocabulary and weights (`start`). The hooks below only
route to the modules of this package.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import keras

from common.config import shown
from common.errors import ConfigError
from common.task import Demo, Task
from tasks.language_model import data, demo_data, evaluate, export
from tasks.language_model.config import LanguageModelDataConfig, LanguageModelModelConfig
from tasks.language_model.layers import ResetStates
from tasks.language_model.model import LossInUnits, build_language_model
from tasks.language_model.start import read_start


class LanguageModelTask(Task):
    name = "language_model"
    data_config = LanguageModelDataConfig
    model_config = LanguageModelModelConfig
    default_monitor = "val_loss"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = ("Language modelling (word or character level): next-token prediction with the state "
                   "carried across windows; generation (sampling, beam search) and scoring of raw text.")
    predict_input_help = ("Prompts, one per line (an empty line: generate from the start of a text); "
                          "continuations are written as JSON Lines {prompt, text}.")

    def check_config(self, config) -> None:
        if config.model.rnn.bidirectional:
            raise ConfigError("config key 'model.rnn.bidirectional': a language model reads left to right; "
                              "set it to false")
        if config.data.batching == "stream" and config.train.distribution != "default":
            raise ConfigError("config key 'train.distribution': stream batching carries one state per stream "
                              "on one device; use distribution: default (or data.batching: line)")

    def write_data(self, table, stem: Path) -> Path:
        """Text from the Python API as the plain-text file the reader takes, one item a line: a list of
        strings (or of records with a ``text`` string), or a DataFrame with a ``text`` column. An item
        that holds line breaks is the lines it holds, as in a file. (The default would write CSV or JSON
        Lines, which this reader takes as text: a model of the markup.)"""
        if hasattr(table, "columns"):
            if "text" not in table.columns:
                raise ValueError(f"a DataFrame of text needs a 'text' column; it has "
                                 f"{shown(list(table.columns))}")
            rows = table["text"].tolist()
        else:
            rows = list(table)
        lines = [row.get("text") if isinstance(row, Mapping) else row for row in rows]
        bad = next((i for i, line in enumerate(lines) if not isinstance(line, str)), None)
        if bad is not None:
            raise ValueError(f"row {bad}: expected a line of text (a string, or a record with a 'text' "
                             f"string), got {shown(rows[bad])}")
        path = stem.with_suffix(".txt")
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    def prepare(self, config, state=None) -> data.LanguageModelPrepared:
        start = read_start(self, config) if state is None and config.model.init_from else None
        prepared = data.prepare(config, start.state if start else state)
        _check_sample(config, len(prepared.state["vocabulary"]))
        if start is None:
            return prepared
        info = {**prepared.info, "started from": f"{start.path} (its vocabulary and weights: model.init_from)"}
        return dataclasses.replace(prepared, info=info, start_weights=start.weights)

    def build_model(self, config, prepared):
        model = build_language_model(config, len(prepared.state["vocabulary"]), prepared.ids["train"])
        if prepared.start_weights is not None:
            model.set_weights(prepared.start_weights)
        return model

    def compile_args(self, config, prepared) -> dict:
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}

    def callbacks(self, model, config, prepared) -> list:
        return [ResetStates(), LossInUnits(config.data.granularity, sampled=bool(config.model.sampled_softmax))]

    def evaluate(self, model, config, prepared, split, run) -> dict:
        return evaluate.evaluate_split(model, config, prepared, split, run)

    def baselines(self, config, prepared, split) -> dict:
        return evaluate.baselines(config, prepared, split)

    def headline_metrics(self) -> list[str]:
        return ["perplexity", "bits_per_char", "nats_per_char"]

    def serving_functions(self, model, config, prepared) -> dict:
        return export.signatures(model, config, prepared.state["vocabulary"])

    def serving_example(self, config, prepared) -> dict:
        return export.serving_example(config, prepared)

    def reference_outputs(self, model, config, prepared) -> dict:
        return export.reference_outputs(model, config, prepared)

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        return export.predict_file(serve, config, state, input_path, output_path)


def _check_sample(config, size: int) -> None:
    """A sampled softmax needs a vocabulary larger than its sample (known only once the data is read)."""
    if config.model.sampled_softmax and config.model.sampled_softmax >= size:
        raise ConfigError(f"config key 'model.sampled_softmax': {config.model.sampled_softmax} samples for a "
                          f"vocabulary of {size}; use fewer than {size} (or 0: the full softmax)")


TASK = LanguageModelTask()
