"""Sentiment (text) classification: raw strings in, a label and class probabilities out.

Data: CSV / TSV / JSON Lines with a text and a label column, or one plain file
of texts per label (``data.format: label_files`` with a ``{label}`` placeholder
in the path, e.g. rt-polarity's ``.pos`` / ``.neg``); see `dataset`. The label
set and vocabulary are learned from the training split. Model: see `model`.
The hooks below only route to the modules of this package.
"""
from __future__ import annotations

from common.pretrained.recipe import with_pretraining_folder
from common.pretrained.schedule import fine_tune_callbacks
from common.task import Demo, Task
from tasks.sentiment import baselines, dataset, demo_data, evaluate, export, ngrams
from tasks.sentiment.config import SentimentDataConfig, SentimentModelConfig
from tasks.sentiment.model import build_classifier
from tasks.sentiment.pretraining import with_pretrained_encoder


class SentimentTask(Task):
    name = "sentiment"
    data_config = SentimentDataConfig
    model_config = SentimentModelConfig
    default_monitor = "val_accuracy"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = "Text classification (sentiment): raw text in, label and class probabilities out."
    predict_input_help = ("Texts to classify: one per line (.txt or no suffix), or the data.text_column "
                          "of a CSV/TSV/JSONL file.")

    def prepare(self, config, state=None) -> dataset.SentimentPrepared:
        return with_pretrained_encoder(config, dataset.prepare(config, state), state_given=state is not None)

    def with_run_folder(self, config, run_path):
        return with_pretraining_folder(config, run_path)

    def build_model(self, config, prepared):
        return build_classifier(config, prepared)

    def compile_args(self, config, prepared) -> dict:
        return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}

    def callbacks(self, model, config, prepared) -> list:
        if prepared.encoder is None:
            return []
        return fine_tune_callbacks(config.model, model.get_layer("embedding"), model.get_layer("recurrent"))

    def calibrate(self, model, config, prepared) -> dict:
        return ngrams.fit_blend_weights(model, prepared) if config.model.ngrams else {}

    def evaluate(self, model, config, prepared, split, run) -> dict:
        return evaluate.evaluate_split(model, config, prepared, split, run)

    def baselines(self, config, prepared, split) -> dict:
        return baselines.baselines(prepared, split)

    def headline_metrics(self) -> list[str]:
        return ["accuracy", "macro_f1", "roc_auc"]

    def serving_functions(self, model, config, prepared) -> dict:
        return export.serving_functions(model, prepared.state["labels"])

    def serving_example(self, config, prepared) -> dict:
        return export.serving_example(prepared)

    def reference_outputs(self, model, config, prepared) -> dict:
        return export.reference_outputs(model, prepared)

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        return export.predict_file(serve, config, state["labels"], input_path, output_path)


TASK = SentimentTask()
