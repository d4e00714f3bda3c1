"""The sentiment baselines every run reports (majority, TF-IDF logistic regression, NBSVM): test accuracy
and wall time of each, per config.

The data goes through the task's own ``prepare`` (same splits, cleaning and tokenizer as a training run),
and each baseline is timed alone, fit on the training split plus scoring ``--split``: the cost a run pays
for it after training (issue #27 caps evaluation plus baselines at 15 % of an IMDB run's wall time).

    RNNSUITE_DATA=../shared/datasets python -m benchmarks.sentiment_baselines \\
        configs/sentiment_sst2.yaml configs/sentiment_rt_polarity.yaml configs/sentiment_imdb.yaml
"""
from __future__ import annotations

import argparse
import time

from benchmarks._harness import command, markdown_table, write_json

PUBLISHED = {"imdb": {"nbsvm": 0.9122}}  # NBSVM-bi, Wang & Manning 2012 (trained on all 25,000 reviews)


def measure(config_path: str, overrides: list[str], split: str) -> list[dict]:
    from common import lifecycle
    from tasks.sentiment import TASK
    from tasks.sentiment.baselines import BASELINES

    config = lifecycle.load_config(TASK, config_path, overrides)
    start = time.perf_counter()
    prepared = TASK.prepare(config)
    prepare_seconds = time.perf_counter() - start
    rows = []
    for name, score in BASELINES.items():
        start = time.perf_counter()
        metrics = score(prepared, split)
        rows.append({"config": config.name, "split": split, "train": len(prepared.texts["train"]),
                     "examples": len(prepared.texts[split]), "baseline": name,
                     "accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4),
                     "seconds": round(time.perf_counter() - start, 1),
                     "published": PUBLISHED.get(config.name, {}).get(name, ""),
                     "prepare_seconds": round(prepare_seconds, 1)})
        print(f"{config.name:<14} {name:<13} {split} accuracy {metrics['accuracy']:.4f}  "
              f"{rows[-1]['seconds']:7.1f} s", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="Sentiment configs (their data sections are used).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Config overrides, applied to every config.")
    parser.add_argument("--split", default="test", help="Split scored (SST-2: test is dev.tsv).")
    parser.add_argument("--json", default="benchmarks/results/sentiment_baselines.json", help="Results file.")
    args = parser.parse_args(argv)
    rows = [row for path in args.configs for row in measure(path, args.set, args.split)]
    print(markdown_table(rows, ["config", "train", "examples", "baseline", "accuracy", "published", "seconds"]))
    write_json(args.json, {"command": command("benchmarks.sentiment_baselines", argv), "rows": rows})


if __name__ == "__main__":
    main()
