"""What a user feels: training time of whole benchmark configs with the fast recurrent layers (`auto`)
and with stock Keras (`keras`).

Each training is the task's own CLI in a fresh process (`python -m tasks.<task> train --config ...
--set <implementation key>=...`), with the config's own settings except the number of epochs, into a
temporary run folder; the two implementations take turns (auto keras, keras auto, ...), and the time
is the run's ``train_seconds`` (model fitting with its per-epoch validation, not the final evaluation
or export). Threads are left at TensorFlow's defaults, as a user gets them.

    RNNSUITE_DATA=../shared/datasets python -m benchmarks.epoch_time \\
        --configs configs/sentiment_sst2.yaml configs/ner_conll2003.yaml --epochs 1 --rounds 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks import _harness

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["configs/sentiment_sst2.yaml", "configs/ner_conll2003.yaml", "configs/forecasting_etth1.yaml",
           "configs/translation_multi30k.yaml", "configs/lm_ptb.yaml"]
IMPLEMENTATIONS = ("auto", "keras")
KEYS = {"translation": "model.encoder.implementation"}  # the encoder's setting applies to the decoder too


def implementation_key(task: str) -> str:
    return KEYS.get(task, "model.rnn.implementation")


def config_path(path: str) -> Path:
    """A config as given (from the working directory), else from the repository root."""
    return Path(path) if Path(path).exists() else ROOT / path


def config_task(path: str) -> str:
    """The ``task:`` of a config file, or a clear stop."""
    try:
        task = (yaml.safe_load(config_path(path).read_text(encoding="utf-8")) or {}).get("task")
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"{path}: cannot read the config ({exc})") from None
    if not task:
        raise SystemExit(f"{path}: the config has no 'task:' key")
    return task


def training_command(config, task: str, setting: str, epochs: int, run_dir: str) -> list[str]:
    """The task's own `train` of ``config`` with one ``--set`` ``setting`` (the candidate), ``epochs``
    epochs and no TensorBoard, into ``run_dir``."""
    return [sys.executable, "-m", f"tasks.{task}", "train", "--config", str(config), "--run-dir", run_dir,
            "--set", setting, "--set", f"train.epochs={epochs}", "--set", "train.tensorboard=false"]


def train_command(config: str, task: str, implementation: str, epochs: int, run_dir: str) -> list[str]:
    return training_command(config, task, f"{implementation_key(task)}={implementation}", epochs, run_dir)


def run_metrics(command: list[str], run_dir: str) -> dict:
    """Run a `training_command` in a fresh process; its run's metrics.json, or a stop with its output."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command[1:])} failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def train_seconds(command: list[str], run_dir: str) -> float:
    return run_metrics(command, run_dir)["training"]["train_seconds"]


def in_turns(tasks: dict, names, rounds: int, prefix: str, run_one) -> dict:
    """``{config: {name: [run_one(config, task, name, run_dir) of each round]}}``: for each config, the
    candidate ``names`` take turns (A B, then B A, ...) so that drifting machine load hits them alike,
    each run into its own folder of a temporary directory (``prefix``)."""
    results = {}
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        for config, task in tasks.items():
            runs = {name: [] for name in names}
            for r in range(rounds):
                for name in names if r % 2 == 0 else reversed(names):
                    run_dir = os.path.join(scratch, f"{Path(config).stem}_{name}_{r}")
                    started = time.time()
                    runs[name].append(run_one(config, task, name, run_dir))
                    load = os.getloadavg()[0]
                    print(f"{config} {name} round {r + 1}: {runs[name][-1]} "
                          f"({time.time() - started:.0f} s in all, load average {load:.1f})", flush=True)
            results[config] = runs
    return results


def summary(times: dict) -> dict:
    """Median seconds per implementation and the per-round speed-up of auto over keras."""
    speedups = [k / a for a, k in zip(times["auto"], times["keras"])]
    return {"auto s": statistics.median(times["auto"]), "keras s": statistics.median(times["keras"]),
            "speed-up": statistics.median(speedups), "range": f"{min(speedups):.2f}-{max(speedups):.2f}"}


def markdown(doc: dict) -> str:
    a = doc["args"]
    return _harness.report(
        "Training time of the benchmark configs: fast layers (auto) vs stock Keras", doc,
        f"{a['epochs']} epoch(s) per training, {a['rounds']} round(s) of auto / keras in turns, each a fresh "
        "process with default threads; seconds: the run's train_seconds (fitting and per-epoch validation), "
        "median over rounds; speed-up: keras time / auto time, median and range of the rounds.",
        ["config", "auto s", "keras s", "speed-up", "range"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=CONFIGS, help="benchmark configs (default: one per task)")
    p.add_argument("--epochs", type=int, default=1, help="epochs per training (train.epochs)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of auto / keras")
    p.add_argument("--json", default="benchmarks/results/epoch_time.json")
    p.add_argument("--md", default="benchmarks/results/epoch_time.md")
    args = p.parse_args(argv)
    tasks = {config: config_task(config) for config in args.configs}  # every config readable before any run
    def one(config, task, name, run_dir):
        command = train_command(config_path(config).resolve(), task, name, args.epochs, run_dir)
        return train_seconds(command, run_dir)

    results = in_turns(tasks, IMPLEMENTATIONS, args.rounds, "epoch_time_", one)
    rows = [{"config": config, **summary(times), "times": times} for config, times in results.items()]
    _harness.print_table(rows, ["config", "auto s", "keras s", "speed-up", "range"])
    doc = {"command": _harness.command("benchmarks.epoch_time", argv), "machine": _harness.machine(),
           "args": vars(args), "rows": rows}
    _harness.write_json(args.json, doc)
    _harness.write_text(args.md, markdown(doc))


if __name__ == "__main__":
    main()
