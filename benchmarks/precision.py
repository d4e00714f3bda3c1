"""What ``train.precision: mixed_bfloat16`` buys: training time and quality of whole benchmark configs in
float32 and in mixed bfloat16 (float32 weights, bfloat16 compute: oneDNN runs its matmuls on AVX512-BF16 /
AMX where the CPU has them, and emulates them, slower, where it has not).

Each training is the task's own CLI in a fresh process (`python -m tasks.<task> train --config ...
--set train.precision=...`), with the config's own settings except the number of epochs, into a temporary
run folder; the two precisions take turns (float32 mixed, mixed float32, ...). The time is the run's
``train_seconds`` (fitting with its per-epoch validation); the quality is the task's first headline test
metric and the monitored validation metric of the best epoch (for sentiment with ``model.ngrams`` that one
is the recurrent path's alone, before the n-gram blend is fitted). The result says whether this CPU has
bf16 (`common.precision.cpu_has_bf16`), i.e. what ``train.precision: auto`` would pick here.

    RNNSUITE_DATA=../shared/datasets python -m benchmarks.precision \\
        --configs configs/sentiment_sst2.yaml --epochs 1 --rounds 2
"""
from __future__ import annotations

import argparse
import statistics

from benchmarks import _harness
from benchmarks.epoch_time import config_path, config_task, in_turns, run_metrics, training_command

PRECISIONS = ("float32", "mixed_bfloat16")
HEADLINE = {"sentiment": "accuracy", "ner": "f1", "translation": "bleu", "language_model": "perplexity",
            "forecasting": "mse"}


def train_command(config, task: str, precision: str, epochs: int, run_dir: str) -> list[str]:
    return training_command(config, task, f"train.precision={precision}", epochs, run_dir)


def trained(command: list[str], run_dir: str, task: str) -> dict:
    """One training's seconds and quality, from the run's metrics.json."""
    metrics = run_metrics(command, run_dir)
    training = metrics["training"]
    best = next((v for k, v in training.items() if k.startswith("best_") and k != "best_epoch"), None)
    return {"seconds": training["train_seconds"], "test": metrics["test"].get(HEADLINE.get(task, "loss")),
            "best_val": best}


def summary(runs: dict, task: str) -> dict:
    """Medians per precision and the per-round speed-up of mixed_bfloat16 over float32."""
    full, mixed = runs["float32"], runs["mixed_bfloat16"]
    speedups = [f["seconds"] / m["seconds"] for f, m in zip(full, mixed)]
    median = lambda rows, key: statistics.median(r[key] for r in rows)  # noqa: E731
    metric = HEADLINE.get(task, "loss")
    return {"float32 s": median(full, "seconds"), "bf16 s": median(mixed, "seconds"),
            "speed-up": statistics.median(speedups), "range": f"{min(speedups):.2f}-{max(speedups):.2f}",
            "metric": metric, "float32 test": median(full, "test"), "bf16 test": median(mixed, "test"),
            "float32 best val": median(full, "best_val"), "bf16 best val": median(mixed, "best_val")}


COLUMNS = ["config", "float32 s", "bf16 s", "speed-up", "range", "metric", "float32 test", "bf16 test",
           "float32 best val", "bf16 best val"]


def markdown(doc: dict) -> str:
    a = doc["args"]
    return _harness.report(
        "Training time and quality: float32 vs mixed_bfloat16", doc,
        f"CPU has bf16 (avx512_bf16 / amx_bf16): {doc['cpu_has_bf16']}. {a['epochs']} epoch(s) per training, "
        f"{a['rounds']} round(s) of float32 / mixed_bfloat16 in turns, each a fresh process with default "
        "threads; seconds: the run's train_seconds (fitting and per-epoch validation), median over rounds; "
        "speed-up: float32 time / bf16 time, median and range of the rounds; test: the task's headline test "
        "metric; best val: the monitored validation metric at the best epoch (the recurrent path's alone "
        "where a blend is fitted after training).",
        COLUMNS)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=["configs/sentiment_sst2.yaml"], help="benchmark configs")
    p.add_argument("--epochs", type=int, default=1, help="epochs per training (train.epochs)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of float32 / mixed_bfloat16")
    p.add_argument("--json", default="benchmarks/results/precision.json")
    p.add_argument("--md", default="benchmarks/results/precision.md")
    args = p.parse_args(argv)
    tasks = {config: config_task(config) for config in args.configs}  # every config readable before any run

    def one(config, task, name, run_dir):
        command = train_command(config_path(config).resolve(), task, name, args.epochs, run_dir)
        return trained(command, run_dir, task)

    results = in_turns(tasks, PRECISIONS, args.rounds, "precision_", one)
    rows = [{"config": config, **summary(runs, tasks[config]), "runs": runs}
            for config, runs in results.items()]
    _harness.print_table(rows, COLUMNS)
    from common.precision import cpu_has_bf16
    doc = {"command": _harness.command("benchmarks.precision", argv), "machine": _harness.machine(),
           "cpu_has_bf16": cpu_has_bf16(), "args": vars(args), "rows": rows}
    _harness.write_json(args.json, doc)
    _harness.write_text(args.md, markdown(doc))


if __name__ == "__main__":
    main()
