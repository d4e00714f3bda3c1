"""Serving latency of run folders' exported SavedModels: batch-1 p50/p99 and batch throughput, per signature.

The request rows come from each task's own ``serving_example`` (the example the conformance test and
the model card use), cycled to fill the batch; each export is loaded with ``tf.saved_model.load``
exactly as a server would, and every signature is timed after one untimed call (the first traces).
Runs are measured one after the other in this process; nothing is compared across them.

    python -m benchmarks.serving_latency --run sentiment=runs/sentiment/sst2 --run ner=runs/ner/conll2003
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import _harness


def example_rows(task_name: str, run_dir: str) -> dict:
    from common import lifecycle
    from common.registry import get_task
    task = get_task(task_name)
    _, config, state, _ = lifecycle.load_run(task, run_dir)
    return {k: np.asarray(v) for k, v in task.serving_example(config, task.prepare(config, state)).items()}


def batch_of(example: dict, size: int) -> dict:
    """``size`` rows cycling through the example's rows."""
    import tensorflow as tf
    n = len(next(iter(example.values())))
    index = np.arange(size) % n
    return {k: tf.constant(v[index]) for k, v in example.items()}


def time_calls(fn, inputs, calls: int) -> list:
    fn(**inputs)  # warm-up (first call traces)
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(**inputs)
        out.append(time.perf_counter() - start)
    return out


def parse_run(text: str) -> tuple[str, str]:
    """``TASK=RUN_DIR`` -> (task, run_dir)."""
    task, sep, run_dir = text.partition("=")
    if not sep or not task or not run_dir:
        raise argparse.ArgumentTypeError(f"expected TASK=RUN_DIR, e.g. sentiment=runs/sentiment/sst2 (got {text!r})")
    return task, run_dir


def measure(task: str, run_dir: str, calls: int, batch: int, batch_calls: int) -> list[dict]:
    """One row per signature of the run's export."""
    from pathlib import Path

    # isort: off
    import common  # noqa: F401 - first, so that TensorFlow starts without its log lines
    import tensorflow as tf
    # isort: on
    export = Path(run_dir) / "export"
    if not (export / "saved_model.pb").exists():
        raise SystemExit(f"{export} has no SavedModel; run `python -m tasks.{task} export --run-dir {run_dir}` "
                         "first")
    example = example_rows(task, run_dir)
    loaded = tf.saved_model.load(str(export))
    rows = []
    for name, fn in loaded.signatures.items():
        keys = set(fn.structured_input_signature[1])
        if not keys <= set(example):
            print(f"{task}: signature {name} skipped: it takes {sorted(keys - set(example))}, which the "
                  "task's serving example does not give")
            continue
        inputs = {k: v for k, v in example.items() if k in keys}
        one = time_calls(fn, batch_of(inputs, 1), calls)
        many = time_calls(fn, batch_of(inputs, batch), batch_calls)
        rows.append({"task": task, "run": run_dir, "signature": name,
                     "batch1 p50 ms": 1000 * _harness.percentile(one, 50),
                     "batch1 p99 ms": 1000 * _harness.percentile(one, 99),
                     f"batch{batch} rows/s": batch / float(np.median(many))})
    return rows


def markdown(doc: dict) -> str:
    a = doc["args"]
    return _harness.report("Serving latency of exported models", doc,
                           f"Batch 1: {a['calls']} timed calls after one untimed; batch {a['batch']}: median of "
                           f"{a['batch_calls']} calls. Rows: each task's serving example.", list(doc["rows"][0]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", dest="runs", type=parse_run, action="append", required=True, metavar="TASK=RUN_DIR",
                   help="a task name and a trained run folder with export/ (repeat for several)")
    p.add_argument("--calls", type=int, default=200, help="timed batch-1 calls per signature")
    p.add_argument("--batch", type=int, default=64, help="rows per call for the throughput column")
    p.add_argument("--batch-calls", type=int, default=10, help="timed calls at --batch")
    p.add_argument("--json", default="benchmarks/results/serving_latency.json")
    p.add_argument("--md", default="benchmarks/results/serving_latency.md")
    args = p.parse_args(argv)
    rows = []
    for task, run_dir in args.runs:
        rows += measure(task, run_dir, args.calls, args.batch, args.batch_calls)
    _harness.print_table(rows, list(rows[0]))
    doc = {"command": _harness.command("benchmarks.serving_latency", argv), "machine": _harness.machine(),
           "args": vars(args) | {"runs": [f"{t}={r}" for t, r in args.runs]}, "rows": rows}
    _harness.write_json(args.json, doc)
    _harness.write_text(args.md, markdown(doc))


if __name__ == "__main__":
    main()
