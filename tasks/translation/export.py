"""The translation model's ONNX export (``export.formats``): greedy decoding of source ids in the graph."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tasks.translation.data import END_ID, PAD_ID, RESERVED, START_ID, UNK_ID
from tasks.translation.model import Seq2SeqInference
from tasks.translation.translator import Translator


def export_formats(config) -> dict:
    """ONNX for word runs; not for SentencePiece runs, whose graph tokenizes with TensorFlow Text's
    SentencePiece ops, which neither onnxruntime nor the reference host has."""
    litert = ("LiteRT holds the fixed-shape cores (forecasting, sentiment, ner); decoding runs a loop of "
              "data-dependent length: use onnx")
    if getattr(config.data, "granularity", "word") != "word":
        reason = (f"data.granularity {config.data.granularity}: the SentencePiece tokenizer runs as "
                  "TensorFlow Text ops, which ONNX and LiteRT hosts do not have")
        return {"onnx": reason, "litert": reason}
    return {"onnx": None, "litert": litert}


def export_core(model, config, prepared, fmt: str):
    """The numeric core of ``translate_greedy``: ``source_ids [batch, length]`` (int64, as
    `Translator.source_ids` makes them: word tokens cut to data.max_length - 1 at their index in
    source_vocab, unk_id for unknown and reserved ones, then end_id; 0 pads) -> the greedy translation
    ``tokens [batch, steps]`` (first ``lengths`` of each row, end token left out) and its ``score``
    (summed log-probability, end token included), decoded inside the graph
    (`common.export_formats.greedy_decode`, an ONNX Loop; tf2onnx does not convert the beam search, so
    ``serving_default``'s beam search with model.beam_width > 1 is not in the export)."""
    from common.export_formats import Core, greedy_decode

    m, state = config.model, prepared.state

    def core(source_ids):
        inference = Seq2SeqInference(model, START_ID, END_ID)  # built in the graph: its constants are graph's
        initial, constants = inference.encode(tf.cast(source_ids, tf.int32))
        tokens, lengths, score = greedy_decode(inference.step, initial, constants, start_id=START_ID,
                                               end_id=END_ID, max_length=m.max_output_length, pad_id=PAD_ID)
        return {"tokens": tf.cast(tokens, tf.int64), "lengths": tf.cast(lengths, tf.int64), "score": score}

    from tasks.translation import TASK

    sources = TASK.serving_example(config, prepared)["source"]
    ids = Translator(model, state, config).source_ids(tf.constant(sources, tf.string))
    preprocessing = {
        "lowercase": config.data.lowercase, "max_length": config.data.max_length,
        "source_vocab": list(state["source_vocab"]), "target_vocab": list(state["target_vocab"]),
        "reserved": list(RESERVED), "pad_id": PAD_ID, "unk_id": UNK_ID, "start_id": START_ID,
        "end_id": END_ID,
        "max_output_length": m.max_output_length, "beam_width": m.beam_width,
        "host": "source_ids: lower-case the text (Unicode, when lowercase), put spaces around every "
                "character that is not a letter, number or whitespace, split on whitespace, keep the first "
                "max_length - 1 tokens at their index in source_vocab (unk_id when absent or reserved), "
                "append end_id, pad with pad_id; tokens = target_vocab[tokens] of the first lengths of each "
                "row, joined by spaces; translation = tokens detokenized (no space before .,!?;:%)]} or "
                "after ([{, none around ' ’ -). Greedy: equal to translate_greedy, and to serving_default "
                "when beam_width is 1.",
    }
    specs = [tf.TensorSpec([None, None], tf.int64, name="source_ids")]
    example = {"source_ids": np.asarray(ids, np.int64)}
    return Core(core, specs, ["tokens", "lengths", "score"], preprocessing, example)
