"""ONNX and LiteRT exports of a task's numeric core (``export.formats``), each checked before it is kept.

The SavedModel carries its own string handling and scaling; ONNX Runtime and LiteRT hosts do those
themselves. So these formats hold a task's numeric core only (`Core`: token ids in, probabilities out;
scaled windows in, scaled forecasts out), and beside it ``preprocessing.json`` holds what a host needs
for the rest (vocabulary and standardisation rule, scaler, label names); `common.onnx_client` is a
reference host in numpy.

* ONNX: tf2onnx's function path (``tf2onnx.convert.from_function`` on a ``tf.function`` of the core
  with a fixed input signature); its ``from_keras`` does not take Keras 3 models. Decoding loops
  (translation, generation) are `greedy_decode`, a ``tf.while_loop`` that tf2onnx turns into an ONNX
  ``Loop``.
* LiteRT: ``tf.lite.TFLiteConverter`` on the frozen core with builtin ops only (no Flex delegate), at
  fixed shapes (batch 1, the task's fixed length).

Both trace the fast recurrent layers (`common.layers.fast_rnn`) through their stock Keras loop (same
weights, same numbers): LiteRT cannot lower the fast loop's tensor lists, and inside a decoding loop
tf2onnx mistypes the fast loop's counters.

A converter can exit cleanly with a graph that computes something else, so every file is run in its
runtime on the task's example before it is written, and refused when it differs from TensorFlow.
"""
from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from common.errors import UserError
from common.onnx_client import LiteRTRunner, OnnxRunner

ONNX_OPSET = 17
TOLERANCE = 1e-4  # max absolute difference between a converted core and TensorFlow on the example
FILES = {"onnx": ("onnx", "model.onnx"), "litert": ("litert", "model.tflite")}


@dataclass
class Core:
    """A task's numeric core, as the ONNX and LiteRT exports hold it.

    ``fn(**tensors)`` takes tensors named like ``inputs`` (``tf.TensorSpec``s; a ``None`` dimension is
    free in ONNX) and returns ``{output name: tensor}``, the names of ``outputs``. ``fixed`` gives LiteRT
    each input's full shape (batch 1). ``preprocessing`` is what a host needs around the core (written
    as ``preprocessing.json``). ``example`` holds a few rows of core inputs, at the ``fixed`` lengths,
    on which each converted file is checked against TensorFlow."""

    fn: Callable
    inputs: list
    outputs: list[str]
    preprocessing: dict
    example: dict
    fixed: dict = field(default_factory=dict)


@contextlib.contextmanager
def stock_recurrence():
    """Trace `FastLSTM`/`FastGRU` through the stock Keras loop (same weights and numbers)."""
    from common.layers import fast_rnn

    original = fast_rnn._FastPath._fast_path_applies
    fast_rnn._FastPath._fast_path_applies = lambda self: False
    try:
        yield
    finally:
        fast_rnn._FastPath._fast_path_applies = original


@contextlib.contextmanager
def _quiet_converter():
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _traced(core: Core, specs: list):
    names = [spec.name for spec in specs]

    def call(*tensors):
        outputs = core.fn(**dict(zip(names, tensors)))
        return {name: tf.identity(outputs[name], name=name) for name in core.outputs}

    return tf.function(call, input_signature=specs, autograph=True)


def reference(core: Core, inputs: dict) -> dict:
    """The core run by TensorFlow on numpy ``inputs``: ``{output: array}``."""
    specs = [tf.TensorSpec([None] * len(s.shape), s.dtype, name=s.name) for s in core.inputs]
    out = core.fn(**{s.name: tf.constant(inputs[s.name], s.dtype) for s in specs})
    return {name: np.asarray(out[name]) for name in core.outputs}


def greedy_decode(step_fn, initial_state, constants=(), *, start_id: int, end_id: int, max_length,
                  pad_id: int = 0):
    """`common.layers.decoding.greedy_search` (same step function, same tokens and scores) written so
    that tf2onnx converts it: every row is stepped at every step (no ``tf.cond`` around a row subset),
    and the token list is stacked right after the loop, which runs at least once (tf2onnx only turns
    a ``TensorListStack`` that follows a ``While`` into the ONNX ``Loop``'s scan output).

    ``max_length`` is a scalar or ``[batch]``. Returns ``(tokens [batch, steps], lengths [batch],
    scores [batch])``: tokens without the end token and padded with ``pad_id`` past each length (there
    may be padding columns at the end), scores the summed log-probabilities including the end token."""
    batch = tf.shape(tf.nest.flatten(initial_state)[0])[0]
    max_length = tf.broadcast_to(tf.cast(max_length, tf.int32), [batch])
    steps = tf.maximum(tf.reduce_max(max_length), 1)

    def cond(t, tokens, state, finished, scores, outputs):
        return tf.logical_and(t < steps, tf.logical_not(tf.reduce_all(finished)))

    def body(t, tokens, state, finished, scores, outputs):
        logits, state = step_fn(tokens, state, constants)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        finished = tf.logical_or(finished, t >= max_length)
        token_score = tf.gather(log_probs, token, batch_dims=1)
        token = tf.where(finished, tf.constant(pad_id, tf.int32), token)
        scores = scores + tf.where(finished, 0.0, token_score)
        finished = tf.logical_or(finished, tf.equal(token, end_id))
        return t + 1, token, state, finished, scores, outputs.write(t, token)

    outputs = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=tf.TensorShape([None]))
    start = tf.fill([batch], tf.constant(start_id, tf.int32))
    loop = tf.while_loop(cond, body, (tf.constant(0), start, initial_state, tf.zeros([batch], tf.bool),
                                      tf.zeros([batch], tf.float32), outputs))
    rows = tf.transpose(loop[5].stack())
    ended = tf.cumsum(tf.cast(tf.equal(rows, end_id), tf.int32), axis=1) > 0
    keep = tf.logical_and(tf.logical_not(ended), tf.not_equal(rows, pad_id))
    tokens = tf.where(keep, rows, tf.constant(pad_id, tf.int32))
    return tokens, tf.reduce_sum(tf.cast(keep, tf.int32), axis=1), loop[4]


def to_onnx(core: Core) -> bytes:
    """The core as a serialized ONNX model (inputs and outputs named like the core's)."""
    import tf2onnx

    with _quiet_converter(), stock_recurrence():
        proto, _ = tf2onnx.convert.from_function(_traced(core, core.inputs), input_signature=core.inputs,
                                                 opset=ONNX_OPSET)
    return proto.SerializeToString()


def to_litert(core: Core) -> tuple[bytes, dict]:
    """The core as a LiteRT (TFLite) flatbuffer at the ``fixed`` shapes, builtin ops only, and which
    LiteRT output tensor holds each output (the frozen function names them ``Identity``, ``Identity_1``,
    ...)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    missing = [s.name for s in core.inputs if s.name not in core.fixed]
    if missing:
        raise ValueError(f"the core gives no fixed LiteRT shape for {', '.join(missing)}")
    specs = [tf.TensorSpec(core.fixed[s.name], s.dtype, name=s.name) for s in core.inputs]
    with stock_recurrence():
        concrete = _traced(core, specs).get_concrete_function()
        frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    # The frozen function's outputs are the flattened dict, i.e. in sorted-key order.
    tensors = {name: tensor.name.split(":")[0] for name, tensor in zip(sorted(core.outputs), frozen.outputs)}
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert(), tensors


def max_difference(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64)),
                         initial=0.0)) for k in a)


def _check(fmt: str, task_name: str, got: dict, expected: dict) -> float:
    diff = max_difference(expected, got)
    if not diff <= TOLERANCE:  # NaN included
        raise UserError(f"the {fmt} export of the {task_name} model differs from TensorFlow by "
                        f"{diff:.3g} on the example (more than {TOLERANCE:g}); the converter mistranslated "
                        f"it: drop {fmt} from export.formats and report the model config")
    return diff


def write_formats(task, model, config, prepared, folder) -> dict:
    """Write every format of ``config.export.formats`` but the SavedModel into ``folder`` (the export
    being assembled): ``onnx/model.onnx`` and ``litert/model.tflite``, each with ``preprocessing.json``.
    Returns ``{format: max difference from TensorFlow on the example}``."""
    checked = {}
    for fmt in config.export.formats:
        if fmt == "savedmodel":
            continue
        core = task.export_core(model, config, prepared, fmt)
        expected = reference(core, core.example)
        tensors = {}
        if fmt == "onnx":
            data = to_onnx(core)
            got = OnnxRunner(data)(core.example, core.outputs)
        else:
            data, tensors = to_litert(core)
            got = LiteRTRunner(data, output_tensors=tensors)(core.example, core.outputs)
        checked[fmt] = _check(fmt, task.name, got, expected)
        subfolder, filename = FILES[fmt]
        target = Path(folder) / subfolder
        target.mkdir(parents=True, exist_ok=True)
        (target / filename).write_bytes(data)
        shapes = core.fixed if fmt == "litert" else {s.name: s.shape.as_list() for s in core.inputs}
        doc = {"task": task.name, "format": fmt, "model": filename,
               "inputs": [{"name": s.name, "dtype": s.dtype.name, "shape": shapes[s.name]}
                          for s in core.inputs],
               "outputs": list(core.outputs), **({"output_tensors": tensors} if tensors else {}),
               "checked_max_abs_difference": checked[fmt],
               **core.preprocessing}
        (target / "preprocessing.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    return checked
