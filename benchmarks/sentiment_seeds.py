"""Headline sentiment figures as means over seeds: each config trained once per seed, test accuracy of the
model beside each of its paths alone (with ``model.ngrams``: the BiLSTM and the NBSVM path) and the
baselines the run scored on the same split, as mean ± sd.

A run that has finished is read, not retrained, and an interrupted one resumes (`train` does), so the
table can be built over several sittings. The seed draws the classifier's initialisation and dropout and,
where a config carves splits from one file, the split too (each run's baselines use its own split).

    RNNSUITE_DATA=../shared/datasets python -m benchmarks.sentiment_seeds \\
        configs/sentiment_rt_polarity.yaml configs/sentiment_sst2.yaml configs/sentiment_imdb.yaml --seeds 42 1 2
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from benchmarks._harness import command, markdown_table, write_json

RUNS = Path("runs/benchmarks/sentiment_seeds")


def run_metrics(config_path: str, seed: int, overrides: list[str], runs: Path) -> tuple[str, dict]:
    """The config's name and the metrics.json of its run with ``seed`` (trained here if not finished)."""
    from common import lifecycle
    from common.io import read_json
    from common.run import RunFolder
    from tasks.sentiment import TASK

    config = lifecycle.load_config(TASK, config_path, [*overrides, f"seed={seed}"])
    folder = RunFolder(runs / f"{config.name}_s{seed}")
    if not folder.is_finished():
        lifecycle.train(TASK, config, folder.path)
    return config.name, read_json(folder.metrics_path)


def row(name: str, seed: int, metrics: dict) -> dict:
    """Test accuracy (%) of the model, of each path alone and of each baseline, for one run."""
    test = metrics["test"]
    out = {"config": name, "seed": seed, "model": 100 * test["accuracy"]}
    out.update({f"{path} alone": 100 * scores["accuracy"] for path, scores in test.get("paths", {}).items()})
    out.update({baseline: 100 * scores["accuracy"] for baseline, scores in metrics["baselines"].items()})
    out["train_seconds"] = metrics["training"]["train_seconds"]
    return out


def summary(rows: list[dict]) -> list[dict]:
    """Per config: mean ± sd (sample sd, over its seeds) of every column of `row`."""
    out = []
    for name in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == name]
        entry = {"config": name, "seeds": " ".join(str(r["seed"]) for r in mine)}
        for column in (c for c in mine[0] if c not in ("config", "seed")):
            values = [r[column] for r in mine if column in r]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            entry[column] = f"{statistics.mean(values):.2f} ± {sd:.2f}" if column != "train_seconds" \
                else round(statistics.mean(values))
        out.append(entry)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="Sentiment configs, each trained once per seed.")
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2], help="Seeds (default: 42 1 2).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Config overrides, applied to every config.")
    parser.add_argument("--runs", default=str(RUNS), help="Folder of the runs, one per config and seed.")
    parser.add_argument("--json", default="benchmarks/results/sentiment_seeds.json", help="Results file.")
    args = parser.parse_args(argv)
    rows = []
    for path in args.configs:
        for seed in args.seeds:
            name, metrics = run_metrics(path, seed, args.set, Path(args.runs))
            rows.append(row(name, seed, metrics))
    table = summary(rows)
    print(markdown_table(table, list(table[0])))
    write_json(args.json, {"command": command("benchmarks.sentiment_seeds", argv), "summary": table, "rows": rows})


if __name__ == "__main__":
    main()
