"""Machine translation: an encoder-decoder RNN with attention, raw sentences in, translations out.

The hooks only wire the package together: reading, tokenization and batching are
`tasks.translation.data`, the model `tasks.translation.model` (shared recurrent
encoder, GRU/LSTM decoder with Bahdanau or Luong attention), the in-graph
translator that is exported and evaluated `tasks.translation.translator` (beam
search by default, greedy as a second signature, both inside the exported graph,
which takes raw strings and returns detokenized text), and the scores
`tasks.translation.evaluation`.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

from common.config import shown
from common.data.batching import chunked
from common.data.text import progress_lines
from common.errors import DataError
from common.io import atomic_path
from common.task import Demo, Task
from tasks.translation import data, demo_data, evaluation, translator
from tasks.translation.config import TranslationDataConfig, TranslationModelConfig
from tasks.translation.data import TranslationPrepared
from tasks.translation.model import MaskedSequenceLoss, MaskedTokenAccuracy, build_seq2seq


_BREAKS = re.compile(r"[\t\r\n]")  # what splits the columns and lines of a TSV file as the reader reads it


class TranslationTask(Task):
    name = "translation"
    data_config = TranslationDataConfig
    model_config = TranslationModelConfig
    default_monitor = "val_loss"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = "Machine translation: raw source sentences in, translations out (seq2seq RNN + attention)."
    predict_input_help = "Text file: one source sentence per line (blank lines stay blank in the output)."

    def write_data(self, table, stem: Path) -> Path:
        """Pairs from the Python API (a DataFrame of two columns, source then target, a list of
        (source, target), or records with the keys ``source`` and ``target``) as the tab-separated file the
        reader takes with the default columns 0 and 1. A third column is refused, not dropped: it may be
        the real target (source, reference, hypothesis) or a sign that the columns are not what they seem.
        A tab or line break inside a sentence would shift the file's columns or lines: it is written as a
        space, which tokenizes the same (every whitespace separates tokens)."""
        if hasattr(table, "iloc"):
            if table.shape[1] != 2:
                raise ValueError(f"expected exactly 2 columns (source, target), got {table.shape[1]}: "
                                 f"{shown(list(table.columns))}; select the two, e.g. "
                                 "frame[['source', 'target']]")
            rows = table.values.tolist()
        else:
            rows = list(table)
        lines = []
        for number, row in enumerate(rows):
            if isinstance(row, Mapping) and set(row) - {"source", "target"}:
                raise ValueError(f"row {number}: expected a record with the keys source and target only, got "
                                 f"the keys {shown(sorted(map(str, row)))}")
            pair = (row.get("source"), row.get("target")) if isinstance(row, Mapping) else row
            if not isinstance(pair, (list, tuple)):
                raise ValueError(f"row {number}: expected a (source, target) pair, got {shown(row)}")
            if len(pair) != 2:
                raise ValueError(f"row {number}: expected exactly 2 columns (source, target), got "
                                 f"{len(pair)}: {shown(row)}")
            for side, sentence in zip(("source", "target"), pair):
                if not isinstance(sentence, str):
                    raise ValueError(f"row {number}: the {side} sentence is {shown(sentence)}, not a string")
            lines.append("\t".join(_BREAKS.sub(" ", sentence) for sentence in pair) + "\n")
        path = stem.with_suffix(".tsv")
        with atomic_path(path) as tmp:
            tmp.write_text("".join(lines), encoding="utf-8")
        return path

    def prepare(self, config, state=None) -> TranslationPrepared:
        prepared = data.prepare(config, state)
        prepared.info["metrics"] = evaluation.metrics_note(config)  # the report says how each score is made
        return prepared

    def build_model(self, config, prepared):
        m = config.model
        return build_seq2seq(len(prepared.state["source_vocab"]), len(prepared.state["target_vocab"]),
                             embedding_dim=m.embedding_dim, encoder=m.encoder.block_kwargs(),
                             decoder_cell=m.decoder_cell, decoder_units=m.decoder_units,
                             attention=m.attention, attention_units=m.attention_units, dropout=m.dropout,
                             tie_embeddings=m.tie_embeddings, scheduled_sampling=m.scheduled_sampling,
                             feed_context=m.feed_context, seed=config.seed,
                             implementation=m.encoder.implementation)

    def compile_args(self, config, prepared) -> dict:
        return {"loss": MaskedSequenceLoss(config.model.label_smoothing), "metrics": [MaskedTokenAccuracy()]}

    def evaluate(self, model, config, prepared, split, run) -> dict:
        return evaluation.evaluate(model, config, prepared, split, run)

    def baselines(self, config, prepared, split) -> dict:
        return {"copy_source": evaluation.copy_source_baseline(config, prepared, split)}

    def headline_metrics(self) -> list[str]:
        return ["bleu", "bleu_tokenized", "chrf", "perplexity", "bleu_greedy"]

    def serving_functions(self, model, config, prepared) -> dict:
        return translator.serving_functions(model, config, prepared.state)

    def serving_example(self, config, prepared) -> dict:
        sources = prepared.pairs["test"].sources[:3]
        # A unicode array, not dtype=object: it saves with np.savez and loads without pickle.
        return {"source": np.array(sources + ["", "ein " * 200 + "hund ."], dtype=str)}

    def reference_outputs(self, model, config, prepared) -> dict:
        example = self.serving_example(config, prepared)
        return {"translate_greedy": (example, evaluation.reference_outputs(model, config, prepared, example))}

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        """One sentence per line in, one translation per line out (blank lines stay blank)."""
        lines = (line.rstrip() for _, line in progress_lines(input_path, config.data.encoding, "predict"))
        first = next(lines, None)  # a missing or unreadable input fails here, before any output exists
        empty = DataError(f"{input_path}: the file is empty; write one sentence to translate per line")
        if first is None:
            raise empty
        lines = itertools.chain([first], lines)
        n_lines = n_blank = 0
        # Streamed 64 lines at a time into a temporary file, moved into place once every line is done.
        with atomic_path(Path(output_path)) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            for chunk in chunked(lines, 64):
                result = serve(source=tf.constant(chunk, tf.string))["translation"].numpy()
                handle.writelines(("" if not src.strip() else t.decode("utf-8")) + "\n"
                                  for src, t in zip(chunk, result))
                n_lines += len(chunk)
                n_blank += sum(1 for line in chunk if not line.strip())
            if n_blank == n_lines:
                raise empty
        return {"sentences": n_lines, "blank lines": n_blank}


TASK = TranslationTask()
