"""Shared benchmark plumbing: interleaved timing, machine description, table and JSON output.

Why interleaved: on a shared, noisy machine absolute timings drift by 2x within minutes.
Running the candidates alternately (A B A B ...) in one process exposes them to the same
noise, so the per-round ratio is trustworthy even when the absolute numbers are not.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path


def machine() -> dict:
    """What the numbers were measured on (goes into every JSON file)."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # isort: off
    import common  # noqa: F401 - first, so that TensorFlow starts without its log lines
    import keras
    import tensorflow as tf
    # isort: on
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def interleaved(candidates: dict, rounds: int, warmup: int = 1) -> dict:
    """Time each zero-argument callable once per round, alternating; returns {name: [seconds]}."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in candidates}
    for r in range(rounds):
        order = list(candidates) if r % 2 == 0 else list(reversed(candidates))  # ABBA: no position bias
        for name in order:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratio_summary(numer: list, denom: list) -> dict:
    """Per-round ratios of two interleaved series: median and spread (min, max)."""
    ratios = sorted(d / n for n, d in zip(numer, denom))  # time ratio -> speed ratio
    return {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1]}


def percentile(values: list, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table, floats rounded for reading (0 decimals from 100 up, else 3 significant digits)."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"
        return str(v)
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def print_table(rows: list[dict], columns: list[str]) -> None:
    print(markdown_table(rows, columns))


def command(module: str, argv=None) -> str:
    """The command line as typed from the repository root, for the record: ``python -m <module> ...``
    with this checkout's absolute path taken out, so the line reruns on any machine."""
    import shlex
    import sys
    root = str(Path(__file__).resolve().parents[1]) + os.sep
    words = sys.argv[1:] if argv is None else list(argv)
    return f"python -m {module} " + shlex.join(w.replace(root, "") for w in words)


def write_text(path: str, text: str) -> None:
    from common.io import atomic_write_text
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    print(f"wrote {path}")


def write_json(path: str, payload: dict) -> None:
    write_text(path, json.dumps({"machine": machine(), **payload}, indent=2))


def set_threads(intra: int, inter: int) -> None:
    """TensorFlow thread pools (0 = TensorFlow's default); must run before TF starts."""
    import tensorflow as tf
    if intra:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
    if inter:
        tf.config.threading.set_inter_op_parallelism_threads(inter)
