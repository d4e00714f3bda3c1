"""Where a training run's time goes, per benchmark config: a per-phase profile of the training step and of
the time spent outside steps.

Each config is profiled in its own process, on its own model and data, built as ``train`` builds them:

* ``step ms``: one training step (``train_on_batch`` on batches cached in memory: forward, loss,
  gradients, optimizer update, metrics), the median of alternating rounds with the input pipeline;
* the phases of that step, from TensorFlow's profiler (``tf.profiler``; its per-op self times, grouped
  by the name scope Keras gives every op): the recurrence (the recurrent layers, and the fast layers'
  XLA loops), attention, the output layer (the layers that make the model's outputs: softmax, CRF,
  forecast head), the embeddings, the other layers, the loss, the optimizer update (with gradient
  clipping), and the rest (metrics, Keras' step bookkeeping), each with its backward pass, as shares
  of the step's busy time; ``backward %`` is the share of all gradient ops;
* ``input ms``: drawing one batch from the task's ``tf.data`` training pipeline alone;
* ``outside``: a ``fit`` epoch of ``--steps`` steps with the task's callbacks and the whole validation
  split, minus those steps' time: per-epoch validation, callbacks, Keras' loop and input waits, and
  its share of an epoch at the config's steps per epoch.

A model with its own ``train_step`` (the language model's sampled softmax) is profiled through that step.
Threads are TensorFlow's defaults, as a user gets them.

    RNNSUITE_DATA=../shared/datasets python -m benchmarks.profile --configs configs/forecasting_etth1.yaml
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks import _harness

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["configs/forecasting_etth1.yaml", "configs/sentiment_sst2.yaml", "configs/ner_conll2003.yaml",
           "configs/translation_multi30k.yaml", "configs/lm_ptb.yaml"]
PHASES = ["recurrence", "attention", "output", "embedding", "other layers", "loss", "optimizer", "rest"]
COLUMNS = ["config", "implementation", "step ms", "input ms", *[f"{p} %" for p in PHASES], "backward %",
           "outside s/epoch", "outside %"]
OPTIMIZER_SCOPES = ("adam", "adamw", "rmsprop", "sgd", "optimizer")
RECURRENT_WORDS = ("lstm", "gru", "rnn", "recurren")


class Scopes:
    """What an op's name scope says about the part of the model it belongs to.

    Keras 3 names an op ``<model>_<n>/<layer>_<n>/.../<op>`` (``gradient_tape/`` in front for the
    backward pass), the loss ``compile_loss/...`` and the update ``<optimizer>/...``."""

    def __init__(self, model):
        import keras
        from common.layers.recurrent import RecurrentBlock
        layers = list(model._flatten_layers(include_self=False))
        self.models = {model.name, *(layer.name for layer in layers if isinstance(layer, keras.Model))}
        rnn_types = (keras.layers.RNN, keras.layers.Bidirectional, RecurrentBlock)
        self.recurrent = {layer.name.lower() for layer in layers if isinstance(layer, rnn_types)}
        self.outputs = {tensor._keras_history[0].name for tensor in keras.tree.flatten(model.outputs)}

    @staticmethod
    def _bare(part: str) -> str:
        return re.sub(r"_\d+$", "", part)

    def phase(self, op_name: str) -> str:
        name = op_name.removeprefix("gradient_tape/")
        parts = name.split("/")
        top = self._bare(parts[0])
        if top == "compile_loss" or "loss" in top.lower():
            return "loss"
        if top.lower() in OPTIMIZER_SCOPES or top.startswith("Assign"):
            return "optimizer"
        if top not in self.models or len(parts) < 2:
            return "rest"
        inner = [self._bare(part).lower() for part in parts[1:-1]]
        if any("attention" in part for part in inner):
            return "attention"
        if any(part in self.recurrent or any(w in part for w in RECURRENT_WORDS)
               for part in inner):
            return "recurrence"
        if self._bare(parts[1]) in self.outputs:
            return "output"
        if any("embedding" in part for part in inner):
            return "embedding"
        return "other layers"


def op_self_times(logdir: str) -> list[tuple[str, float]]:
    """``(op name, self time in µs)`` of every op the profiler saw (idle time and tf.data iterators left
    out), from its ``framework_op_stats`` tool (TensorFlow's own converter of the profile it wrote)."""
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))
    data, ok = plugin.xspace_to_tools_data(paths[-1:], "framework_op_stats", {})
    if not ok:
        raise RuntimeError(f"the profiler's op statistics could not be read: {data[:200]!r}")
    table = json.loads(data)[0]
    column = {col["id"]: i for i, col in enumerate(table["cols"])}
    ops = []
    for row in table["rows"]:
        cells = [cell.get("v") for cell in row["c"]]
        # idle time, and a dataset iterator's own threads (no part of a step on cached batches)
        if cells[column["type"]] != "IDLE" and not cells[column["operation"]].startswith("Iterator::"):
            ops.append((cells[column["operation"]], float(cells[column["total_self_time"]])))
    return ops


def profile_config(config_path: str, steps: int, rounds: int, overrides: list[str]) -> dict:
    """The profile of one config in this process (`main` runs each in its own)."""
    # isort: off
    import common  # noqa: F401 - TensorFlow quiet before it starts
    import keras
    import tensorflow as tf
    # isort: on
    import yaml

    from common import lifecycle, registry
    from common.training import compile_model, seed_everything

    task = registry.get_task(yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))["task"])
    config = lifecycle.load_config(task, config_path, overrides)
    scratch = tempfile.mkdtemp(prefix="profile_")
    config = task.with_run_folder(lifecycle.with_absolute_data_paths(config), Path(scratch) / "run")
    seed_everything(config.seed, config.train.deterministic)
    prepared = task.prepare(config, None)
    model = task.build_model(config, prepared)
    compile_model(task, model, config, prepared)

    pipeline = iter(prepared.train.repeat())
    batches = [next(pipeline) for _ in range(steps)]

    def draw():
        for _ in range(steps):
            next(pipeline)

    def train_steps():
        for x, y in batches:
            model.train_on_batch(x, y)

    times = _harness.interleaved({"input": draw, "step": train_steps}, rounds)
    ms = {name: 1000 * statistics.median(values) / steps for name, values in times.items()}

    del pipeline  # its prefetching threads would otherwise run, and be profiled, beside the steps
    logdir = os.path.join(scratch, "profile")
    tf.profiler.experimental.start(logdir)
    train_steps()
    tf.profiler.experimental.stop()
    scopes, busy, backward, unplaced = Scopes(model), Counter(), 0.0, Counter()
    for name, micros in op_self_times(logdir):
        phase = scopes.phase(name)
        busy[phase] += micros
        backward += micros if name.startswith("gradient_tape/") else 0.0
        if phase == "rest":
            unplaced[name] += micros
    total = sum(busy.values()) or 1.0

    outside = _outside_steps(task, model, config, prepared, steps, ms["step"] / 1000)
    epoch_steps = int(prepared.train.cardinality())
    epoch_s = epoch_steps * ms["step"] / 1000 + outside
    return {"config": _harness.without_root(str(config_path)), "implementation": _implementation(config),
            "step ms": round(ms["step"], 1), "input ms": round(ms["input"], 2),
            **{f"{p} %": round(100 * busy[p] / total, 1) for p in PHASES},
            "backward %": round(100 * backward / total, 1),
            "outside s/epoch": round(outside, 1), "outside %": round(100 * outside / epoch_s, 1),
            "steps per epoch": epoch_steps,
            "largest rest ops %": {name: round(100 * micros / total, 1)
                                   for name, micros in unplaced.most_common(5)},
            "own train_step": type(model).train_step is not keras.Model.train_step}


def _implementation(config) -> str:
    model = config.model
    for section in ("rnn", "encoder"):
        part = getattr(model, section, None)
        if part is not None and hasattr(part, "implementation"):
            return part.implementation
    return "n/a"


def _outside_steps(task, model, config, prepared, steps: int, step_seconds: float) -> float:
    """Seconds per epoch outside training steps: a second ``fit`` epoch of ``steps`` steps (the first
    compiles), with the task's callbacks and the whole validation split, minus those steps."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.began

    clock = EpochClock()
    model.fit(prepared.train.repeat(), steps_per_epoch=steps, epochs=2, validation_data=prepared.val,
              callbacks=[*task.callbacks(model, config, prepared), clock], verbose=0)
    return max(0.0, clock.seconds - steps * step_seconds)


def markdown(doc: dict) -> str:
    return _harness.report(
        "Where the training time goes: a per-phase profile of each benchmark config", doc,
        f"{doc['args']['steps']} cached batches per timing, {doc['args']['rounds']} rounds of input and "
        "steps "
        "alternating, medians; phase shares: TensorFlow profiler self time per op, grouped by Keras name "
        "scope, as a share of the step's busy time (forward and backward together; `backward %` is the "
        "gradient ops' share); input: one batch from the task's tf.data pipeline alone; outside: per-epoch "
        "time outside steps (validation, callbacks, Keras' loop, input waits), and its share of an epoch at "
        "the config's steps per epoch.", COLUMNS)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=CONFIGS, help="benchmark configs (default: one per task)")
    p.add_argument("--steps", type=int, default=10,
                   help="batches per timing (cached, the same for every piece)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per piece (median)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every config, e.g. model.rnn.implementation=keras")
    p.add_argument("--json", default="benchmarks/results/profile.json")
    p.add_argument("--md", default="benchmarks/results/profile.md")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # one config in this process, its row to this file
    args = p.parse_args(argv)
    if args.steps < 1 or args.rounds < 1:
        p.error("--steps and --rounds must be 1 or more")
    if args.worker:
        row = profile_config(args.configs[0], args.steps, args.rounds, args.overrides)
        Path(args.worker).write_text(json.dumps(row), encoding="utf-8")
        return
    missing = [c for c in args.configs if not (ROOT / c).is_file() and not Path(c).is_file()]
    if missing:
        p.error(f"no such config: {', '.join(missing)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="profile_rows_") as scratch:
        for config in args.configs:
            out = os.path.join(scratch, "row.json")
            path = str(Path(config).resolve() if Path(config).is_file() else ROOT / config)
            command = [sys.executable, "-m", "benchmarks.profile", "--configs", path,
                       "--steps", str(args.steps),
                       "--rounds", str(args.rounds), "--worker", out,
                       *[a for item in args.overrides for a in ("--set", item)]]
            started = time.time()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{config}: profiling failed:\n{(done.stdout + done.stderr)[-3000:]}")
            rows.append(json.loads(Path(out).read_text(encoding="utf-8")))
            print(f"{config}: profiled in {time.time() - started:.0f} s", flush=True)
    _harness.print_table(rows, COLUMNS)
    doc = {"command": _harness.command("benchmarks.profile", argv), "machine": _harness.machine(),
           "args": {k: v for k, v in vars(args).items() if k != "worker"}, "rows": rows}
    _harness.write_json(args.json, doc)
    _harness.write_text(args.md, markdown(doc))


if __name__ == "__main__":
    main()
