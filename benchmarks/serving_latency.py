"""Serving latency of a run folder's exported SavedModel: batch-1 p50/p99 and batch-64 throughput.

The request rows come from the task's own ``serving_example`` (the same example the
conformance test and the model card use), repeated to fill the batch; the export is
loaded with ``tf.saved_model.load`` exactly as a server would, and each signature of
the export is timed.

    PYTHONPATH=. python benchmarks/serving_latency.py --task sentiment --run-dir runs/sentiment/demo
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="registered task name (sentiment, ner, translation, forecasting)")
    p.add_argument("--run-dir", required=True, help="a trained run folder with export/")
    p.add_argument("--calls", type=int, default=50, help="timed batch-1 calls")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batch-calls", type=int, default=10, help="timed calls at --batch")
    p.add_argument("--json", default=None, help="default: benchmarks/results/serving_<task>.json")
    args = p.parse_args(argv)
    from pathlib import Path

    import tensorflow as tf
    export = Path(args.run_dir) / "export"
    if not (export / "saved_model.pb").exists():
        raise SystemExit(f"{export} has no SavedModel; run `python -m tasks.{args.task} export --run-dir "
                         f"{args.run_dir}` first")
    example = example_rows(args.task, args.run_dir)
    loaded = tf.saved_model.load(str(export))
    rows = []
    for name, fn in loaded.signatures.items():
        keys = set(fn.structured_input_signature[1])
        inputs = {k: v for k, v in example.items() if k in keys}
        one = time_calls(fn, batch_of(inputs, 1), args.calls)
        many = time_calls(fn, batch_of(inputs, args.batch), args.batch_calls)
        rows.append({"signature": name, "batch1 p50 ms": 1000 * _harness.percentile(one, 50),
                     "batch1 p99 ms": 1000 * _harness.percentile(one, 99),
                     f"batch{args.batch} rows/s": args.batch / float(np.median(many))})
    _harness.print_table(rows, list(rows[0]))
    _harness.write_json(args.json or f"benchmarks/results/serving_{args.task}.json",
                        {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
