"""Named-entity recognition: a BiLSTM(-CRF) sequence tagger over CoNLL or JSON Lines data.

The hooks only wire the package together: `config` (the config sections), `data`
(reading, scheme conversion, vocabulary, tf.data), `model` (the tagger and its
decoding), `evaluation` (entity F1, the val-F1 callback, the baseline) and
`export` (serving functions, batch prediction). Early stopping watches
``val_f1``: entity F1 on the validation split, decoded like at test time.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import keras

from common.config import shown
from common.pretrained.recipe import with_pretraining_folder
from common.pretrained.schedule import fine_tune_callbacks
from common.task import Demo, Task
from tasks.ner import demo_data, evaluation, export
from tasks.ner.char_lm import with_char_lm
from tasks.ner.config import NERDataConfig, NERModelConfig
from tasks.ner.data import NERPrepared, prepare
from tasks.ner.model import build_model
from tasks.ner.pretraining import with_pretrained_encoder


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

    def predict_outputs(self, output_path: Path) -> list[Path]:
        return [output_path, output_path.with_name(output_path.stem + ".entities.jsonl")]

    def write_data(self, table, stem: Path) -> Path:
        """Tagged sentences from the Python API as a two-column CoNLL file (token and tag, a blank line
        after each sentence), which the demo config and ``data.format: auto`` read with the default
        columns: records ``{"tokens": [...], "tags": [...]}``, ``(tokens, tags)`` pairs, or a DataFrame
        with ``tokens`` and ``tags`` columns. A token or tag holding whitespace would become two columns
        of the file, so it is refused with its row."""
        if hasattr(table, "columns"):
            if not {"tokens", "tags"} <= set(table.columns):
                raise ValueError(f"a DataFrame of sentences needs 'tokens' and 'tags' columns; it has "
                                 f"{shown(list(table.columns))}")
            table = table[["tokens", "tags"]].values.tolist()
        lines = []
        for number, row in enumerate(table):
            if isinstance(row, Mapping):
                row = (row.get("tokens"), row.get("tags"))
            if not (isinstance(row, (list, tuple)) and len(row) == 2
                    and all(isinstance(part, (list, tuple)) for part in row) and len(row[0]) == len(row[1])):
                raise ValueError(f"row {number}: expected {{'tokens': [...], 'tags': [...]}} or a (tokens, "
                                 f"tags) pair of equally long lists, got {shown(row)}")
            tokens, tags = row
            bad = next((value for value in (*tokens, *tags)
                        if not (isinstance(value, str) and value.split() == [value])), None)
            if bad is not None:
                raise ValueError(f"row {number}: {shown(bad)} is not a token or tag (a non-empty string "
                                 "without whitespace)")
            lines += [f"{token} {tag}\n" for token, tag in zip(tokens, tags)] + ["\n"]
        path = stem.with_suffix(".txt")
        path.write_text("".join(lines), encoding="utf-8")
        return path

    def prepare(self, config, state=None) -> NERPrepared:
        given = state is not None
        return with_char_lm(config, with_pretrained_encoder(config, prepare(config, state), given), given)

    def with_run_folder(self, config, run_path):
        return with_pretraining_folder(config, run_path)

    def build_model(self, config, prepared):
        return build_model(config, prepared)

    def compile_args(self, config, prepared) -> dict:
        if config.model.crf:
            return {"loss": None}  # CRFTagger.compute_loss: the CRF negative log-likelihood
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)}

    def callbacks(self, model, config, prepared) -> list:
        schedule = []
        if prepared.encoder is not None:
            schedule = fine_tune_callbacks(config.model, model.get_layer("word_embedding"),
                                           model.get_layer("recurrent"))
        return [evaluation.ValF1(config, prepared.state["tags"], prepared.sentences["val"]), *schedule]

    def evaluate(self, model, config, prepared, split, run) -> dict:
        return evaluation.evaluate_split(model, config, prepared, split, run)

    def baselines(self, config, prepared, split) -> dict:
        return {"most_frequent_tag": evaluation.most_frequent_tag(config, prepared, split)}

    def headline_metrics(self) -> list[str]:
        return ["f1", "precision", "recall", "strict_f1", "token_accuracy"]

    def serving_functions(self, model, config, prepared) -> dict:
        return export.serving_functions(model, config, prepared)

    def serving_example(self, config, prepared) -> dict:
        return export.serving_example(prepared)

    def reference_outputs(self, model, config, prepared) -> dict:
        return export.reference_outputs(model, config, prepared)

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        return export.predict_file(serve, config, input_path, output_path)


TASK = NERTask()
