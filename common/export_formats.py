"""ONNX and LiteRT exports of a task's numeric core (``export.formats``), each checked before it is kept.

The SavedModel carries its own string handling and scaling; ONNX Runtime and LiteRT hosts do those
themselves. So these formats hold a task's numeric core only (`Core`: token ids in, probabilities out;
scaled windows in, scaled forecasts out), and beside it ``preprocessing.json`` holds what a host needs
for the rest (vocabulary and standardisation rule, scaler, label names); `common.onnx_client` is a
reference host in numpy.

* ONNX: tf2onnx's function path (``tf2onnx.convert.from_function`` on a ``tf.function`` of the core
  with a fixed input signature); its ``from_keras`` does not take Keras 3 models.
* LiteRT: ``tf.lite.TFLiteConverter`` on the frozen core with builtin ops only (no Flex delegate), at
  fixed shapes (batch 1, the task's fixed length). The fast recurrent layers (`common.layers.fast_rnn`)
  are traced through their stock Keras loop here (same weights, same numbers): LiteRT cannot lower the
  fast loop's tensor lists.

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


def to_onnx(core: Core) -> bytes:
    """The core as a serialized ONNX model (inputs and outputs named like the core's)."""
    import tf2onnx

    with _quiet_converter():
        proto, _ = tf2onnx.convert.from_function(_traced(core, core.inputs), input_signature=core.inputs,
                                                 opset=ONNX_OPSET)
    return proto.SerializeToString()


def to_litert(core: Core) -> bytes:
    """The core as a LiteRT (TFLite) flatbuffer at the ``fixed`` shapes, builtin ops only."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    missing = [s.name for s in core.inputs if s.name not in core.fixed]
    if missing:
        raise ValueError(f"the core gives no fixed LiteRT shape for {', '.join(missing)}")
    specs = [tf.TensorSpec(core.fixed[s.name], s.dtype, name=s.name) for s in core.inputs]
    with stock_recurrence():
        concrete = _traced(core, specs).get_concrete_function()
        frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def onnx_session(model, threads: int | None = None):
    """An onnxruntime CPU session of a model file or its bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = str(model) if isinstance(model, (str, Path)) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(session, inputs: dict) -> dict:
    names = [o.name for o in session.get_outputs()]
    feeds = {i.name: np.asarray(inputs[i.name]) for i in session.get_inputs()}
    return dict(zip(names, session.run(names, feeds)))


class LiteRTRunner:
    """A LiteRT model file or its bytes as ``runner(inputs) -> {output: array}``, row by row (the model
    takes batch 1)."""

    def __init__(self, model, threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        source = {"model_path": str(model)} if isinstance(model, (str, Path)) else {"model_content": model}
        self.interpreter = Interpreter(**source, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()

    def _name(self, detail, names):
        name = detail["name"]
        for candidate in names:  # a frozen function's inputs keep their names (maybe with a prefix/suffix)
            if name == candidate or name.split(":")[0].endswith(candidate):
                return candidate
        raise ValueError(f"LiteRT tensor {name!r} matches none of {names}")

    def __call__(self, inputs: dict, outputs: list[str]) -> dict:
        names = list(inputs)
        rows = len(next(iter(inputs.values())))
        results = {name: [] for name in outputs}
        for row in range(rows):
            for detail in self.input_details:
                value = np.asarray(inputs[self._name(detail, names)][row:row + 1], detail["dtype"])
                self.interpreter.set_tensor(detail["index"], value)
            self.interpreter.invoke()
            got = {d["name"]: self.interpreter.get_tensor(d["index"]) for d in self.output_details}
            for i, name in enumerate(outputs):
                results[name].append(_output(got, name, i, len(outputs)))
        return {name: np.concatenate(values) for name, values in results.items()}


def _output(got: dict, name: str, index: int, count: int):
    for key, value in got.items():
        if key == name or key.split(":")[0].endswith(name):
            return value
    if count == 1 and len(got) == 1:
        return next(iter(got.values()))
    raise ValueError(f"the LiteRT model has no output {name!r} (it has {', '.join(got)})")


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
        if fmt == "onnx":
            data = to_onnx(core)
            got = run_onnx(onnx_session(data), core.example)
        else:
            data = to_litert(core)
            got = LiteRTRunner(data)(core.example, core.outputs)
        checked[fmt] = _check(fmt, task.name, got, expected)
        subfolder, filename = FILES[fmt]
        target = Path(folder) / subfolder
        target.mkdir(parents=True, exist_ok=True)
        (target / filename).write_bytes(data)
        shapes = core.fixed if fmt == "litert" else {s.name: s.shape.as_list() for s in core.inputs}
        doc = {"task": task.name, "format": fmt, "model": filename,
               "inputs": [{"name": s.name, "dtype": s.dtype.name, "shape": shapes[s.name]}
                          for s in core.inputs],
               "outputs": list(core.outputs), "checked_max_abs_difference": checked[fmt],
               **core.preprocessing}
        (target / "preprocessing.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    return checked
