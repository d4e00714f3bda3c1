"""ETT long-horizon benchmark: our forecaster, our baselines and the published figures in one Markdown table.

Each (dataset, horizon) pair is one training run of ``configs/forecasting_<dataset>.yaml`` through
`common.lifecycle` (lookback 96, the 12/4/4-month split, MSE/MAE on the standardized scale, every
test window scored), with ``data.horizon`` set to the pair's horizon.

    python -m benchmarks.forecasting_ett --runs etth1:96 ettm2:720
    python -m benchmarks.forecasting_ett --runs all            # 4 sets x 4 horizons
    python -m benchmarks.forecasting_ett                       # the table from the pairs stored so far
    # a quick check of the plumbing on a slice (not comparable with the published numbers):
    python -m benchmarks.forecasting_ett --runs etth1:24 --set train.epochs=1 \\
        --set "data.split_rows=[480, 240, 240]" --out /tmp/ett.md

Published numbers: multivariate, lookback 96, standardized test MSE / MAE, copied from the table in
SegRNN's README ("Comparison Results for Lookback L = 96", github.com/lss-1138/SegRNN, read at
commit 01708ba): SegRNN's own rerun (MSE loss, the fixed test loader), and iTransformer, PatchTST
and DLinear as reported in the iTransformer paper (Liu et al., ICLR 2024), which the
README reproduces. TimeMixer (Wang et al., ICLR 2024) is left blank: its table could not be
checked against a source here, and an unchecked number is worse than a gap.

Each finished protocol pair is stored in ``benchmarks/results/forecasting_ett/<dataset>_<horizon>.json``
(test and baseline figures, training minutes, the run's peak resident memory), and the table is built
from every stored pair, so it grows over several sittings: an interrupted invocation loses at most the
pair it was training, and a rerun skips the stored ones. Each pair trains in its own process, so its peak
memory is its own. Runs with ``--set`` overrides are not protocol runs: they are not stored, and the table
then holds just that invocation's pairs.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DATASETS = ("etth1", "etth2", "ettm1", "ettm2")
HORIZONS = (96, 192, 336, 720)
MODELS = ("SegRNN", "TimeMixer", "iTransformer", "PatchTST", "DLinear")
SOURCE = ("SegRNN README, 'Comparison Results for Lookback L = 96' (github.com/lss-1138/SegRNN @ 01708ba); "
          "iTransformer/PatchTST/DLinear there are the iTransformer paper's (ICLR 2024) figures")

# (dataset, horizon) -> model -> (MSE, MAE); None: not verified, shown blank.
PUBLISHED = {
    ("etth1", 96): {"SegRNN": (0.368, 0.395), "iTransformer": (0.386, 0.405), "PatchTST": (0.414, 0.419),
                    "DLinear": (0.386, 0.400)},
    ("etth1", 192): {"SegRNN": (0.408, 0.419), "iTransformer": (0.441, 0.436), "PatchTST": (0.460, 0.445),
                     "DLinear": (0.437, 0.432)},
    ("etth1", 336): {"SegRNN": (0.444, 0.440), "iTransformer": (0.487, 0.458), "PatchTST": (0.501, 0.466),
                     "DLinear": (0.481, 0.459)},
    ("etth1", 720): {"SegRNN": (0.446, 0.457), "iTransformer": (0.503, 0.491), "PatchTST": (0.500, 0.488),
                     "DLinear": (0.519, 0.516)},
    ("etth2", 96): {"SegRNN": (0.278, 0.335), "iTransformer": (0.297, 0.349), "PatchTST": (0.302, 0.348),
                    "DLinear": (0.333, 0.387)},
    ("etth2", 192): {"SegRNN": (0.359, 0.389), "iTransformer": (0.380, 0.400), "PatchTST": (0.388, 0.400),
                     "DLinear": (0.477, 0.476)},
    ("etth2", 336): {"SegRNN": (0.421, 0.436), "iTransformer": (0.428, 0.432), "PatchTST": (0.426, 0.433),
                     "DLinear": (0.594, 0.541)},
    ("etth2", 720): {"SegRNN": (0.432, 0.455), "iTransformer": (0.427, 0.445), "PatchTST": (0.431, 0.446),
                     "DLinear": (0.831, 0.657)},
    ("ettm1", 96): {"SegRNN": (0.330, 0.369), "iTransformer": (0.334, 0.368), "PatchTST": (0.329, 0.367),
                    "DLinear": (0.345, 0.372)},
    ("ettm1", 192): {"SegRNN": (0.369, 0.392), "iTransformer": (0.377, 0.391), "PatchTST": (0.367, 0.385),
                     "DLinear": (0.380, 0.389)},
    ("ettm1", 336): {"SegRNN": (0.399, 0.412), "iTransformer": (0.426, 0.420), "PatchTST": (0.399, 0.410),
                     "DLinear": (0.413, 0.413)},
    ("ettm1", 720): {"SegRNN": (0.454, 0.443), "iTransformer": (0.491, 0.459), "PatchTST": (0.454, 0.439),
                     "DLinear": (0.474, 0.453)},
    ("ettm2", 96): {"SegRNN": (0.173, 0.255), "iTransformer": (0.180, 0.264), "PatchTST": (0.175, 0.259),
                    "DLinear": (0.193, 0.292)},
    ("ettm2", 192): {"SegRNN": (0.237, 0.298), "iTransformer": (0.250, 0.309), "PatchTST": (0.241, 0.302),
                     "DLinear": (0.284, 0.362)},
    ("ettm2", 336): {"SegRNN": (0.296, 0.336), "iTransformer": (0.311, 0.348), "PatchTST": (0.305, 0.343),
                     "DLinear": (0.369, 0.427)},
    ("ettm2", 720): {"SegRNN": (0.389, 0.407), "iTransformer": (0.412, 0.407), "PatchTST": (0.402, 0.400),
                     "DLinear": (0.554, 0.522)},
}
BASELINES = ("naive", "seasonal_naive", "linear")


def parse_runs(items: list[str]) -> list[tuple[str, int]]:
    """``etth1:96`` pairs (``all``: every dataset and horizon of the protocol)."""
    if items == ["all"]:
        return [(d, h) for d in DATASETS for h in HORIZONS]
    runs = []
    for item in items:
        name, _, horizon = item.lower().partition(":")
        if name not in DATASETS or not horizon.isdigit():
            raise SystemExit(f"--runs {item!r}: expected DATASET:HORIZON with DATASET in {', '.join(DATASETS)}, "
                             "e.g. etth1:96")
        runs.append((name, int(horizon)))
    return runs


def run_one(dataset: str, horizon: int, overrides: dict, runs_dir: Path) -> dict:
    """Train one pair through the lifecycle (a finished run in its folder is reused) -> metrics.json's doc,
    with this process's peak resident memory (MiB) added as ``peak_rss_mib``."""
    from common import config as cfg
    from common import lifecycle
    from tasks.forecasting import TASK

    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / f"forecasting_{dataset}.yaml")
    config = cfg.with_values(config, {"data.horizon": horizon, "train.tensorboard": False, **overrides})
    run_dir = runs_dir / f"{dataset}_{horizon}"
    if (run_dir / "metrics.json").exists():
        doc = json.loads((run_dir / "metrics.json").read_text())
    else:
        _, doc = lifecycle.train(TASK, config, run_dir)
    return {**doc, "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def stored_path(results_dir: Path, dataset: str, horizon: int) -> Path:
    return results_dir / f"{dataset}_{horizon}.json"


def run_stored(dataset: str, horizon: int, runs_dir: Path, results_dir: Path) -> dict:
    """A protocol pair's stored figures, training it first in a child process when none are stored."""
    path = stored_path(results_dir, dataset, horizon)
    if not path.exists():
        subprocess.run([sys.executable, "-m", "benchmarks.forecasting_ett", "--one", f"{dataset}:{horizon}",
                        "--runs-dir", str(runs_dir), "--results-dir", str(results_dir)], check=True)
    return json.loads(path.read_text())


def store(doc: dict, path: Path) -> None:
    """Keep what the table and the README need from a run's metrics.json (not its history)."""
    from common.io import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {key: doc[key] for key in ("test", "baselines", "training", "peak_rss_mib") if key in doc}
    atomic_write_json(path, kept)


def stored_results(results_dir: Path) -> dict:
    """Every stored protocol pair, in the protocol's order."""
    return {(d, h): json.loads(stored_path(results_dir, d, h).read_text())
            for d in DATASETS for h in HORIZONS if stored_path(results_dir, d, h).exists()}


def fmt(pair) -> str:
    return f"{pair[0]:.3f} / {pair[1]:.3f}" if pair else ""


def table(results: dict, overrides: dict) -> str:
    """The Markdown report: one row per pair, MSE / MAE per column."""
    columns = ["dataset", "horizon", "ours", "training", "peak memory", *BASELINES, *MODELS]
    lines = ["# ETT long-horizon forecasting (multivariate, lookback 96, standardized test MSE / MAE)", ""]
    if overrides:
        settings = ", ".join(f"{k}={v}" for k, v in overrides.items())
        lines += [f"Run settings differ from the configs ({settings}): our figures are not comparable "
                  "with the published ones.", ""]
    lines += ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for (dataset, horizon), doc in results.items():
        test, base = doc["test"], doc.get("baselines", {})
        published = PUBLISHED.get((dataset, horizon), {})
        seconds = doc.get("training", {}).get("train_seconds")
        memory = doc.get("peak_rss_mib")
        cells = [dataset.replace("ett", "ETT"), str(horizon), fmt((test["mse"], test["mae"])),
                 f"{seconds / 60:.1f} min" if seconds else "", f"{memory} MiB" if memory else ""]
        cells += [fmt((base[b]["mse"], base[b]["mae"])) if b in base else "" for b in BASELINES]
        cells += [fmt(published.get(m)) for m in MODELS]
        lines.append("| " + " | ".join(cells) + " |")
        if horizon == HORIZONS[-1] and all((dataset, h) in results for h in HORIZONS):
            lines.append("| " + " | ".join(average_row(dataset, results)) + " |")
    windows = {f"{d}:{h}": doc["test"]["windows"] for (d, h), doc in results.items()}
    lines += ["", f"Test windows scored (every one, stride 1): {windows}. Training: wall-clock minutes of "
              "fitting on this machine (2 CPU cores here, shared with other work while these ran: read the minutes "
              "as upper bounds). Peak memory: the training process's peak resident set.",
              f"Published: {SOURCE}. TimeMixer: left blank (not verified). A blank baseline: seasonal "
              "period longer than the lookback."]
    lines += quantile_table(results)
    warnings = [f"- {d.replace('ett', 'ETT')} {h}: {doc['test']['baseline_warning']}"
                for (d, h), doc in results.items() if "baseline_warning" in doc["test"]]
    if warnings:
        lines += ["", "Runs a baseline beats on the validation split:", "", *warnings]
    return "\n".join(lines) + "\n"


def average_row(dataset: str, results: dict) -> list[str]:
    """The per-dataset average over the four horizons, the figure papers compare first; a column is
    averaged only where all four horizons have a figure."""
    docs = [results[(dataset, h)] for h in HORIZONS]

    def mean(pairs):
        return (sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs)) \
            if all(pairs) else None

    ours = mean([(d["test"]["mse"], d["test"]["mae"]) for d in docs])
    seconds = [d.get("training", {}).get("train_seconds") for d in docs]
    cells = [f"**{dataset.replace('ett', 'ETT')}**", "**avg**", f"**{fmt(ours)}**",
             f"{sum(seconds) / 60:.1f} min (total)" if all(seconds) else "", ""]
    cells += [fmt(mean([(d["baselines"][b]["mse"], d["baselines"][b]["mae"])
                        if b in d.get("baselines", {}) else None for d in docs])) for b in BASELINES]
    cells += [fmt(mean([PUBLISHED.get((dataset, h), {}).get(m) for h in HORIZONS])) for m in MODELS]
    return cells


def quantile_table(results: dict) -> list[str]:
    """Runs with model.quantiles: the outermost interval's test coverage against its nominal level, its
    mean width in the data's units and the mean weighted quantile loss, for the network's levels as
    trained and, when calibrated, after the conformal shift; beside the baseline with the lowest mean wQL
    (its training-error quantiles)."""
    rows = [(key, doc) for key, doc in results.items() if "coverage" in doc["test"]]
    if not rows:
        return []
    lines = ["", "## Quantile forecasts (test split)", "",
             "| dataset | horizon | nominal | coverage | width | mean wQL | best baseline: coverage / width "
             "/ mean wQL |", "|---|---|---|---|---|---|---|"]
    for (dataset, horizon), doc in rows:
        test = doc["test"]
        scored = {b: m for b, m in doc.get("baselines", {}).items() if "mean_wql" in m}
        best = min(scored, key=lambda b: scored[b]["mean_wql"]) if scored else None
        baseline = (f"{best}: {scored[best]['coverage']:.3f} / {scored[best]['interval_width']:.2f} / "
                    f"{scored[best]['mean_wql']:.4f}" if best else "")
        lines.append(f"| {dataset.replace('ett', 'ETT')} | {horizon} | {test['coverage_nominal']:.2f} | "
                     f"{_as_trained_and_calibrated(test, 'coverage', 3)} | "
                     f"{_as_trained_and_calibrated(test, 'interval_width', 2)} | "
                     f"{_as_trained_and_calibrated(test, 'mean_wql', 4)} | {baseline} |")
    lines += ["", "Coverage, width and wQL: as trained → after the conformal calibration on the validation "
              "split (model.calibration: conformal). Width in the data's units (mean over targets)."]
    return lines


def _as_trained_and_calibrated(test: dict, name: str, digits: int) -> str:
    raw = f"{test[name]:.{digits}f}"
    calibrated = test.get(f"{name}_calibrated")
    return raw if calibrated is None else f"{raw} → {calibrated:.{digits}f}"


def main(argv=None):
    from common.config import parse_override

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=[], help="DATASET:HORIZON pairs to train (those not "
                        "stored yet), or 'all'; none: rebuild the table from the stored pairs")
    parser.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                        help="config override applied to every run (repeatable); such runs are not stored")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/forecasting_ett"),
                        help="where the run folders go")
    parser.add_argument("--results-dir", type=Path, default=Path("benchmarks/results/forecasting_ett"),
                        help="where each finished protocol pair's figures are stored")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/forecasting_ett.md"),
                        help="the Markdown table")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child process training one stored pair
    args = parser.parse_args(argv)
    overrides = {".".join(key): value for key, value in map(parse_override, args.overrides)}
    if args.one:
        [(dataset, horizon)] = parse_runs([args.one])
        store(run_one(dataset, horizon, {}, args.runs_dir), stored_path(args.results_dir, dataset, horizon))
        return
    results = {}
    for dataset, horizon in parse_runs(args.runs) if args.runs else []:
        start = time.perf_counter()
        if overrides:
            results[(dataset, horizon)] = run_one(dataset, horizon, overrides, args.runs_dir)
        else:
            results[(dataset, horizon)] = run_stored(dataset, horizon, args.runs_dir, args.results_dir)
        print(f"{dataset}:{horizon} done in {time.perf_counter() - start:.0f}s", flush=True)
    if not overrides:
        results = stored_results(args.results_dir)
    from common.io import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, table(results, overrides))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
