"""Size and batch-1 latency of the SavedModel, ONNX and LiteRT exports (export.formats), raw input to output.

For every task: trains the demo model on the demo data (``--epochs``, default 1) in a temporary folder,
or re-exports a given run (``--run-dir task=folder``), with every format the task offers (LiteRT:
forecasting, sentiment, ner); then times one batch-1 request per round through each, alternating (ABBA)
in this one process with the same thread count (``--threads``: TensorFlow's intra-op pool,
onnxruntime's and LiteRT's). The SavedModel is timed through a signature (loaded as `predict` loads
it), ONNX and LiteRT through the reference client (`common.onnx_client`: numpy preprocessing + the
runtime), so each includes its own string handling / scaling. The signature is ``serving_default``,
except where the exports decode greedily and ``serving_default`` does not: the language model's
``generate`` at temperature 0 and translation's ``translate_greedy``. Also reports each format's
largest absolute difference from the SavedModel on the task's serving example (labels, tags and
tokens: identical or not).

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
TASKS = ["forecasting", "sentiment", "ner", "language_model", "translation"]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def savedmodel_bytes(export_dir: Path) -> int:
    """The SavedModel alone (without the onnx/, litert/ folders and the model card)."""
    parts = [export_dir / name for name in ("saved_model.pb", "variables", "assets", "fingerprint.pb")]
    return sum(folder_bytes(p) if p.is_dir() else p.stat().st_size for p in parts if p.exists())


def task_formats(task, config) -> list[str]:
    """The SavedModel and every other format the task's model can be written in."""
    return ["savedmodel"] + [f for f, reason in task.export_formats(config).items() if reason is None]


def trained_run(task, folder: Path, epochs: int, run_dir: str | None):
    """A run folder whose export holds every format: a given run re-exported, or the demo trained."""
    from common import config as cfg
    from common import lifecycle

    if run_dir:
        run, config, state, model = lifecycle.load_run(task, run_dir)
        config = cfg.with_values(config, {"export.formats": task_formats(task, config)})
        prepared = task.prepare(config, state)
        from common.export import write_export

        write_export(task, model, config, prepared, folder / "export")
        return folder / "export", config, prepared
    overrides = task.demo.make_data(folder, 0)
    config = lifecycle.load_config(task, task.demo_config_path)
    config = cfg.with_values(config, {**overrides, "train.epochs": epochs, "train.verbose": "none",
                                      "train.tensorboard": False})
    config = cfg.with_values(config, {"export.formats": task_formats(task, config)})
    run, _ = lifecycle.train(task, config, folder / "run")
    prepared = task.prepare(config, lifecycle.read_state(run))
    return run.export_dir, config, prepared


def request(task, config, example: dict) -> tuple[str, dict, dict]:
    """The SavedModel signature the exports answer like, its inputs, and the client's raw inputs."""
    import numpy as np

    if task.name == "language_model":
        n, g = len(example["prompt"]), config.model.generation
        inputs = {"prompt": example["prompt"], "max_tokens": np.full(n, g.max_tokens, "int32"),
                  "temperature": np.zeros(n, "float32"), "top_k": np.zeros(n, "int32"),
                  "top_p": np.ones(n, "float32"), "seed": np.zeros(n, "int32")}
        return "generate", inputs, {"prompt": example["prompt"]}
    if task.name == "translation":
        return "translate_greedy", example, example
    return "serving_default", example, example


def differences(served: dict, got: dict) -> dict:
    import numpy as np

    out = {}
    for key, value in got.items():
        expected = np.asarray(served[key])
        if expected.dtype.kind in "SUO":
            names = [v.decode() if isinstance(v, bytes) else v for v in expected.ravel().tolist()]
            out[key] = "identical" if names == np.asarray(value).ravel().tolist() else "DIFFERENT"
        elif expected.dtype.kind in "iu":
            out[key] = "identical" if expected.tolist() == np.asarray(value).tolist() else "DIFFERENT"
        else:
            out[key] = float(np.max(np.abs(expected.astype(np.float64) - np.asarray(value, np.float64))))
    return out


def measure(task, config, export_dir: Path, example: dict, rounds: int, threads: int) -> list[dict]:
    import tensorflow as tf

    from common.export import load_serving
    from common.onnx_client import Client

    signature, inputs, raw = request(task, config, example)
    formats = [f for f in FORMATS if f == "savedmodel" or (export_dir / f).is_dir()]
    serve = load_serving(export_dir, signature)
    served = {k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
    one_tf = {k: tf.constant(v[:1]) for k, v in inputs.items()}
    one = {k: v[:1] for k, v in raw.items()}
    clients = {fmt: Client(export_dir / fmt, threads=threads) for fmt in formats[1:]}
    candidates = {"savedmodel": lambda: serve(**one_tf)}
    candidates.update({fmt: (lambda c=client: c(**one)) for fmt, client in clients.items()})
    times = _harness.interleaved(candidates, rounds, warmup=5)
    files = {"onnx": ("onnx", "model.onnx"), "litert": ("litert", "model.tflite")}
    rows = []
    for fmt in formats:
        size = savedmodel_bytes(export_dir) if fmt == "savedmodel" else (export_dir.joinpath(*files[fmt])
                                                                        .stat().st_size)
        row = {"task": task.name, "format": fmt, "signature": signature, "bytes": size,
               "p50_ms": statistics.median(times[fmt]) * 1e3,
               "p90_ms": _harness.percentile(times[fmt], 90) * 1e3}
        if fmt != "savedmodel":
            row["vs_savedmodel"] = differences(served, clients[fmt](**raw))
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
                             "sentiment=..., ner=..., language_model=..., translation=...)")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS, help="tasks to measure")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "export_formats.json"))
    args = parser.parse_args(argv)
    _harness.set_threads(args.threads, 1)
    import importlib

    given = dict(item.split("=", 1) for item in args.run_dir)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tasks:
            task = importlib.import_module(f"tasks.{name}").TASK
            folder = Path(tmp) / task.name
            folder.mkdir()
            export_dir, config, prepared = trained_run(task, folder, args.epochs, given.get(task.name))
            example = task.serving_example(config, prepared)
            rows += measure(task, config, export_dir, example, args.rounds, args.threads)
    columns = ["task", "format", "signature", "bytes", "p50_ms", "p90_ms", "vs_savedmodel"]
    _harness.print_table(rows, columns)
    _harness.write_json(args.out, {"command": _harness.command("benchmarks.export_formats", argv),
                                   "how": "batch-1 raw input to output, interleaved rounds in one process; "
                                          "shared machine: absolute times drift, compare within a run",
                                   "threads": args.threads, "rounds": args.rounds, "rows": rows})


if __name__ == "__main__":
    sys.exit(main())
