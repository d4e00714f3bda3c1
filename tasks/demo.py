"""The main job: every task end to end on data the project generates itself.

    python -m tasks.demo [--only TASK ...] [--epochs N] [--out DIR]

For each registered task: write demo data -> train -> evaluate -> export ->
predict from the exported SavedModel, then print one summary table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import config as cfg
from common import lifecycle, registry
from common.errors import UserError
from common.report import fmt, table


def run_demo(names, out: Path, epochs: int | None):
    rows = []
    for name in names:
        task = registry.get_task(name)
        print(f"\n=== {name}: {task.description}")
        started = time.time()
        overrides = task.demo.make_data(out / "demo_data" / name, seed=0)
        if epochs:
            overrides["train.epochs"] = epochs
        config = cfg.with_values(lifecycle.load_config(task, task.demo_config_path), overrides)
        run_dir = out / "runs" / name / "demo"
        run, doc = lifecycle.train(task, config, run_dir, overwrite=True)
        lifecycle.evaluate(task, run.path, "val")
        lifecycle.export(task, run.path)
        source = task.demo.predict_input(config, out / "demo_data" / name)
        prediction = out / "demo_data" / name / f"predictions{source.suffix or '.txt'}"
        lifecycle.predict(task, run.path, source, prediction)
        headline = (task.headline_metrics() or list(doc["test"]))[0]
        rows.append([name, headline, fmt(doc["test"][headline]), baseline_cell(doc.get("baselines", {}), headline),
                     f"{time.time() - started:.0f}s", str(run.path), str(prediction)])
    print("\n" + table(["task", "metric", "test", "baselines (same metric, same split)", "time", "run folder",
                        "predictions"], rows))


def baseline_cell(baselines: dict, metric: str) -> str:
    """Each baseline's score on the headline metric, e.g. ``majority 0.5000, tfidf_logreg 0.8167``."""
    cells = [f"{name} {fmt(scores[metric])}" for name, scores in baselines.items() if metric in scores]
    return ", ".join(cells) or "-"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tasks.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(registry.TASK_MODULES), metavar="TASK",
                        help=f"Run only these tasks (default: all of {', '.join(registry.TASK_MODULES)}).")
    parser.add_argument("--epochs", type=int, help="Override train.epochs of every demo config.")
    parser.add_argument("--out", type=Path, default=Path("."), help="Folder for demo_data/ and runs/ (default .).")
    args = parser.parse_args(argv)
    try:
        run_demo(args.only or list(registry.TASK_MODULES), args.out, args.epochs)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
