"""Size and batch-1 latency of the SavedModel, ONNX and LiteRT exports (export.formats), raw input to output.

For forecasting and sentiment: trains the demo model on the demo data (``--epochs``, default 1) in a
temporary folder, or re-exports a given run (``--run-dir task=folder``), with every format; then times
one batch-1 request per round through each, alternating (ABBA) in this one process with the same thread
count (``--threads``: TensorFlow's intra-op pool, onnxruntime's and LiteRT's). The SavedModel is timed
through its ``serving_default`` (loaded as `predict` loads it), ONNX and LiteRT through the reference
client (`common.onnx_client`: numpy preprocessing + the runtime), so each includes its own string
handling / scaling. Also reports each format's maximum absolute difference from the SavedModel on the
task's serving example (labels: identical or not).

    PYTHONPATH=. python -m benchmarks.export_formats --rounds 300 --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import _harness

REPO = Path(__file__).resolve().parent.parent
FORMATS = ["savedmodel", "onnx", "litert"]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def savedmodel_bytes(export_dir: Path) -> int:
    """The SavedModel alone (without the onnx/, litert/ folders and the model card)."""
    parts = [export_dir / name for name in ("saved_model.pb", "variables", "assets", "fingerprint.pb")]
    return sum(folder_bytes(p) if p.is_dir() else p.stat().st_size for p in parts if p.exists())


def trained_run(task, folder: Path, epochs: int, run_dir: str | None):
    """A run folder whose export holds every format: a given run re-exported, or the demo trained."""
    from common import config as cfg
    from common import lifecycle

    if run_dir:
        run, config, state, model = lifecycle.load_run(task, run_dir)
        config = cfg.with_values(config, {"export.formats": FORMATS})
        prepared = task.prepare(config, state)
        from common.export import write_export

        write_export(task, model, config, prepared, folder / "export")
        return folder / "export", config, prepared
    overrides = task.demo.make_data(folder, 0)
    config = lifecycle.load_config(task, task.demo_config_path)
    config = cfg.with_values(config, {**overrides, "train.epochs": epochs, "train.verbose": "none",
                                      "train.tensorboard": False, "export.formats": FORMATS})
    run, _ = lifecycle.train(task, config, folder / "run")
    prepared = task.prepare(config, lifecycle.read_state(run))
    return run.export_dir, config, prepared


def differences(served: dict, got: dict) -> dict:
    import numpy as np

    out = {}
    for key, value in got.items():
        expected = np.asarray(served[key])
        if expected.dtype.kind in "SUO":
            names = [v.decode() if isinstance(v, bytes) else v for v in expected.tolist()]
            out[key] = "identical" if names == np.asarray(value).tolist() else "DIFFERENT"
        elif expected.dtype.kind in "iu":
            out[key] = "identical" if expected.tolist() == np.asarray(value).tolist() else "DIFFERENT"
        else:
            out[key] = float(np.max(np.abs(expected.astype(np.float64) - np.asarray(value, np.float64))))
    return out


def measure(task, export_dir: Path, example: dict, rounds: int, threads: int) -> list[dict]:
    import tensorflow as tf

    from common.export import load_serving
    from common.onnx_client import Client

    serve = load_serving(export_dir)
    served = {k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in example.items()}).items()}
    one = {k: v[:1] for k, v in example.items()}
    one_tf = {k: tf.constant(v) for k, v in one.items()}
    clients = {fmt: Client(export_dir / fmt, threads=threads) for fmt in ("onnx", "litert")}
    candidates = {"savedmodel": lambda: serve(**one_tf),
                  "onnx": lambda: clients["onnx"](**one), "litert": lambda: clients["litert"](**one)}
    times = _harness.interleaved(candidates, rounds, warmup=5)
    sizes = {"savedmodel": savedmodel_bytes(export_dir),
             "onnx": (export_dir / "onnx" / "model.onnx").stat().st_size,
             "litert": (export_dir / "litert" / "model.tflite").stat().st_size}
    rows = []
    for fmt in FORMATS:
        row = {"task": task.name, "format": fmt, "bytes": sizes[fmt],
               "p50_ms": statistics.median(times[fmt]) * 1e3,
               "p90_ms": _harness.percentile(times[fmt], 90) * 1e3}
        if fmt != "savedmodel":
            row["vs_savedmodel"] = differences(served, clients[fmt](**example))
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300, help="timed requests per format")
    parser.add_argument("--threads", type=int, default=1, help="threads of every runtime (TF intra-op too)")
    parser.add_argument("--epochs", type=int, default=1, help="demo training epochs")
    parser.add_argument("--run-dir", action="append", default=[], metavar="TASK=FOLDER",
                        help="re-export this run instead of training the demo (forecasting=..., "
                             "sentiment=...)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "export_formats.json"))
    args = parser.parse_args(argv)
    _harness.set_threads(args.threads, 1)
    from tasks.forecasting import TASK as FORECASTING
    from tasks.sentiment import TASK as SENTIMENT

    given = dict(item.split("=", 1) for item in args.run_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in (FORECASTING, SENTIMENT):
            folder = Path(tmp) / task.name
            folder.mkdir()
            export_dir, config, prepared = trained_run(task, folder, args.epochs, given.get(task.name))
            example = task.serving_example(config, prepared)
            rows += measure(task, export_dir, example, args.rounds, args.threads)
    columns = ["task", "format", "bytes", "p50_ms", "p90_ms", "vs_savedmodel"]
    _harness.print_table(rows, columns)
    _harness.write_json(args.out, {"command": _harness.command("benchmarks.export_formats", argv),
                                   "how": "batch-1 raw input to output, interleaved rounds in one process; "
                                          "shared machine: absolute times drift, compare within a run",
                                   "threads": args.threads, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
