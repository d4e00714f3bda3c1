"""Training speed of the suite's LSTM/GRU vs stock Keras and PyTorch, one process per candidate.

Why not rnn_training.py: there the candidates run interleaved in ONE process, where two
frameworks' OpenMP/Eigen pools spin against each other on a small machine. Here each
candidate (``rnnsuite``: RecurrentBlock implementation "auto"; ``keras``: implementation
"keras"; ``torch``: nn.LSTM/nn.GRU from .venv-torch) is a long-lived worker process
(_rnn_speed_worker.py) with the same pinned thread count, and the workers take turns: per
round A B C, each timing its training steps while the others wait on stdin. The model is
rnn_training.py's classifier (embedding 128 -> recurrent layer -> dense 1, Adam, one fixed
random batch). Ratios are medians of per-round speed ratios, printed only when their spread
(max/min) is within --max-spread; GFLOP/s and % of FP32 peak say how far from the hardware
each candidate is. Before timing, the rnnsuite worker checks its logits and gradients
against stock Keras at the shape (1e-5).

    scripts/setup_torch.sh                           # once: .venv-torch with torch 2.13.0
    .venv/bin/python -m benchmarks.rnn_speed --quick   # tiny grid, a few minutes
    .venv/bin/python -m benchmarks.rnn_speed --rounds 3   # the whole grid: 64 min on 2 quiet cores
    .venv/bin/python -m benchmarks.rnn_speed --cells lstm --hidden 256 --seq 128 --threads 1

Writes benchmarks/results/rnn_speed.json (machine, settings, every round) and .md (the table).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import _harness
from benchmarks._rnn_speed_worker import MARKER
from benchmarks.rnn_training import EMBED
from common.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = ("rnnsuite", "keras", "torch")
GATES = {"lstm": 4, "gru": 3}
VERSIONED = ("tensorflow", "keras", "torch")  # the workers report these versions
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")
FULL = {"cells": ["lstm", "gru"], "directions": ["uni", "bi"], "hidden": [128, 256, 512],
        "seq": [32, 128, 512], "batch": [64], "threads": [1, 2], "rounds": 5}
GOALS = {"keras": 1.3, "torch": 1.0}  # issue #12: rnnsuite/<other> at least this at every shape
QUICK = {"cells": ["lstm", "gru"], "directions": ["uni"], "hidden": [128], "seq": [32], "batch": [64],
         "threads": [1], "rounds": 3}


def train_flops_per_token(cell: str, hidden: int, bidirectional: bool, input_dim: int = EMBED) -> float:
    """Matmul FLOPs of one training step per token (one recurrent layer).

    Per direction, with G gate blocks (G = 4 for LSTM, 3 for GRU) of ``hidden`` units:
    forward = 2 * G * hidden * (input_dim + hidden), the input projection (input_dim x G*hidden)
    plus the recurrent one (hidden x G*hidden), one multiply-add counted as 2 FLOPs;
    backward ~= 2 x forward (one matmul of the forward's size for the inputs' gradient and one
    for the weights'). So training = 3 x forward x directions. Not counted: elementwise gate
    math and biases, the embedding lookup (no matmul) and the dense head (hidden x 1 per sequence).
    """
    forward = 2 * GATES[cell] * hidden * (input_dim + hidden)
    return 3 * forward * (2 if bidirectional else 1)


def parse_cpuinfo(text: str) -> dict:
    """Model name, flags and ``cpu MHz`` of the first processor listed in /proc/cpuinfo."""
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return {"model": fields.get("model name", "unknown"), "flags": set(fields.get("flags", "").split()),
            "mhz": float(fields["cpu MHz"]) if "cpu MHz" in fields else None}


def fp32_lanes(flags: set) -> int:
    """FP32 lanes of the widest FMA vector: AVX-512 16, AVX2+FMA 8, otherwise (SSE) 4."""
    if "avx512f" in flags:
        return 16
    return 8 if {"avx2", "fma"} <= flags else 4


def peak_gflops(cpuinfo_text: str, cores: int, fma_units: int = 2, max_freq_khz: float | None = None) -> dict:
    """FP32 peak = cores x FMA units x fp32 lanes x 2 (an FMA is 2 FLOPs) x clock GHz.

    The clock is cpufreq's cpuinfo_max_freq when there is one (turbo included: the peak is an
    upper bound), else /proc/cpuinfo's ``cpu MHz``. The FMA unit count is not in cpuinfo: it is
    the caller's assumption (2 on most server cores; 1 on some AVX-512 parts, e.g. Xeon Silver)."""
    info = parse_cpuinfo(cpuinfo_text)
    if max_freq_khz:
        ghz, source = max_freq_khz / 1e6, "cpufreq cpuinfo_max_freq"
    elif info["mhz"]:
        ghz, source = info["mhz"] / 1e3, "/proc/cpuinfo cpu MHz"
    else:
        raise ValueError("no clock: neither cpuinfo_max_freq nor 'cpu MHz' in /proc/cpuinfo")
    lanes = fp32_lanes(info["flags"])
    return {"cpu": info["model"], "cores": cores, "fma_units": fma_units, "fp32_lanes": lanes, "ghz": ghz,
            "clock_source": source, "gflops": cores * fma_units * lanes * 2 * ghz}


def machine_peak(cores: int, fma_units: int) -> dict:
    """peak_gflops with this machine's /proc/cpuinfo and cpufreq (when the kernel exposes it)."""
    freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    khz = float(freq.read_text()) if freq.exists() else None
    return peak_gflops(Path("/proc/cpuinfo").read_text(), cores, fma_units, khz)


def round_order(candidates: list, rounds: int) -> list:
    """(round, candidate) in running order: A B C, A B C, ... ; never two at once."""
    return [(r, name) for r in range(rounds) for name in candidates]


def thread_env(base: dict, threads: int) -> dict:
    """A worker's environment: every BLAS/OpenMP/TensorFlow pool at ``threads``, inter-op too.

    Inter-op at ``threads`` as in a user's training, where TensorFlow sizes both pools to the CPUs:
    it runs independent ops side by side (the two directions, `fast_rnn.batch_parts`). PyTorch gets
    the same inter-op size, though its nn.LSTM/GRU do not use that pool. Set before the worker
    starts, because most pools are sized once, when their library loads."""
    env = {**base, **{name: str(threads) for name in THREAD_VARS}}
    env.update(TF_NUM_INTEROP_THREADS=str(threads), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")])))
    return env


def refused(ratios: list, max_spread: float) -> bool:
    """True when the per-round ratios spread (max/min) beyond max_spread: then the rounds disagree more
    than the comparison could tell, and a median would mislead."""
    return max(ratios) / min(ratios) > max_spread


def ratio_text(ratios: list, max_spread: float) -> str:
    """'median [min–max]' of per-round ratios, or 'spread too wide' when they are `refused`."""
    if refused(ratios, max_spread):
        return f"spread too wide ({max(ratios) / min(ratios):.2f} > {max_spread})"
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}–{max(ratios):.2f}]"


class Worker:
    """One candidate's process; stderr goes to a file, shown when the worker dies."""

    def __init__(self, python: str, spec: dict, env: dict):
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen([python, "-m", "benchmarks._rnn_speed_worker", json.dumps(spec)],
                                     cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log)
        self.name = spec["candidate"]

    def receive(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER):])
        self.log.seek(0)
        raise RuntimeError(f"{self.name} worker exited ({self.proc.wait()}):\n{self.log.read()[-3000:]}")

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self.receive()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:  # still inside a long run: its numbers are not wanted
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def run_shape(shape: dict, pythons: dict, args, peak: float) -> dict:
    """Start the workers one after the other (each builds and warms up alone), then the rounds."""
    spec = {**shape, "bidirectional": shape["direction"] == "bi", "warmup": args.warmup, "steps": args.steps,
            "round_seconds": args.round_seconds, "pin": args.pin}
    env = thread_env(dict(os.environ), shape["threads"])
    workers, result = {}, {"shape": shape, "load_before": os.getloadavg()[0], "candidates": {}}
    try:
        for name, python in pythons.items():
            check = name == "rnnsuite" and args.check
            workers[name] = Worker(python, {**spec, "candidate": name, "check": check}, env)
            result["candidates"][name] = {"ready": workers[name].receive(), "rounds": []}
        for _, name in round_order(list(workers), args.rounds):
            time.sleep(args.settle)  # the previous worker's spinning pools go to sleep
            result["candidates"][name]["rounds"].append(workers[name].run())
    finally:
        for worker in workers.values():
            worker.close()
    result["load_after"] = os.getloadavg()[0]
    return summarize(result, args.max_spread, peak)


def summarize(result: dict, max_spread: float, peak: float) -> dict:
    """Per candidate: tokens/s per round and median, GFLOP/s, % of peak; per-round ratios to rnnsuite."""
    shape = result["shape"]
    tokens = shape["batch"] * shape["seq"]
    flops_per_token = train_flops_per_token(shape["cell"], shape["hidden"], shape["direction"] == "bi")
    speeds = {}
    for name, cand in result["candidates"].items():
        speeds[name] = [tokens * r["steps"] / r["seconds"] for r in cand["rounds"]]
        median = statistics.median(speeds[name])
        gflops = median * flops_per_token / 1e9
        cand.update(tokens_per_s=speeds[name], median_tokens_per_s=median, gflops=gflops,
                    percent_of_peak=100 * gflops / peak)
    result["ratios"] = {}
    for other in [n for n in speeds if n != "rnnsuite" and "rnnsuite" in speeds]:
        ratios = [a / b for a, b in zip(speeds["rnnsuite"], speeds[other])]
        result["ratios"][f"rnnsuite/{other}"] = {"per_round": ratios, "text": ratio_text(ratios, max_spread)}
    return result


def percent(value: float) -> str:
    return f"{value:.1f}%" if value < 10 else f"{value:.0f}%"


def check_of(row: dict) -> dict | None:
    """The rnnsuite worker's equality check at this shape (None when not run)."""
    return row["candidates"].get("rnnsuite", {}).get("ready", {}).get("check")


def goal_tally(doc: dict) -> list[str]:
    """Per comparison, how many shapes meet the issue's goal (median per-round ratio), miss it, or have
    their ratio refused: the table is too long to read the verdict off row by row."""
    lines, max_spread = [], doc["settings"]["max_spread"]
    for other, goal in GOALS.items():
        key = f"rnnsuite/{other}"
        per_round = [r["ratios"][key]["per_round"] for r in doc["shapes"] if key in r["ratios"]]
        if not per_round:
            continue
        medians = [statistics.median(ratios) for ratios in per_round if not refused(ratios, max_spread)]
        met = sum(m >= goal for m in medians)
        span = f"; medians {min(medians):.2f}–{max(medians):.2f}" if medians else ""
        lines.append(f"- {key} ≥ {goal}: met at {met} of {len(per_round)} shapes, missed at "
                     f"{len(medians) - met}, ratio refused at {len(per_round) - len(medians)}{span}.")
    return lines


def markdown(doc: dict) -> str:
    """The report: how it was measured, then one row per shape."""
    s, peaks = doc["settings"], doc["peaks"]
    one = peaks[str(min(s["threads"]))]
    names = [n for n in CANDIDATES if n in s["candidates"]]
    others = [n for n in names if n != "rnnsuite"] if "rnnsuite" in names else []
    pinned = ", pinned to the first cores" if s["pin"] else ""
    lines = [
        "# RNN training speed: rnnsuite vs stock Keras vs PyTorch", "",
        f"Generated by `{doc['command']}` on {doc['machine']['cpu']} ({doc['machine']['cpus']} CPUs usable), "
        f"{doc['machine']['started']}. Versions: {json.dumps(doc['versions'])}.", "",
        f"Each candidate is its own worker process with the same thread count (OMP/MKL/OpenBLAS, "
        f"TF intra-op, torch.set_num_threads; TF and torch inter-op at the same count, so TensorFlow runs "
        f"independent ops such as the two directions side by side, as it does in training{pinned}); "
        f"the workers take turns (A B C per round, {s['rounds']} rounds), after a warm-up of {s['warmup']} "
        f"steps. tok/s is the median over rounds (batch × seq × steps / seconds). Ratios: median [min–max] "
        f"of the per-round speed ratios, shown only when max/min ≤ {s['max_spread']} (else 'spread too "
        f"wide').", "",
        f"GFLOP/s counts matmul FLOPs only: per token, direction and layer 2·G·H·({EMBED} + H) forward "
        f"(G = 4 LSTM, 3 GRU), backward 2× forward. FP32 peak per core = {one['fma_units']} FMA units "
        f"(assumed) × {one['fp32_lanes']} lanes × 2 × {one['ghz']:.2f} GHz ({one['clock_source']}) = "
        f"{one['gflops'] / one['cores']:.1f} GFLOP/s; % peak uses the shape's thread count.", "",
        f"Load average (1 min, includes this benchmark's own worker): {doc['load_before']:.2f} before, "
        f"{doc['load_after']:.2f} after.", "",
        "Check: rnnsuite logits and gradients vs stock Keras at the shape, tolerance 1e-5.", "",
    ]
    tally = goal_tally(doc)
    lines += ["Goals (median of the per-round ratios):", *tally, ""] if tally else []
    header = ["cell", "dir", "hidden", "seq", "batch", "threads"]
    header += [f"{n} tok/s (GFLOP/s, % peak)" for n in names]
    header += [f"rnnsuite/{n}" for n in others] + ["check"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in doc["shapes"]:
        sh, cands = row["shape"], row["candidates"]
        cells = [sh["cell"], sh["direction"], sh["hidden"], sh["seq"], sh["batch"], sh["threads"]]
        cells += [f"{c['median_tokens_per_s']:,.0f} ({c['gflops']:.1f}, {percent(c['percent_of_peak'])})"
                  for c in (cands[n] for n in names)]
        cells += [row["ratios"][f"rnnsuite/{n}"]["text"] for n in others]
        check = check_of(row)
        verdict = check and f"{'ok' if check['ok'] else 'FAILED'} ({check['max_abs_diff']:.1e})"
        cells.append(verdict or "—")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", nargs="+", choices=list(GATES), help=f"default {FULL['cells']}")
    p.add_argument("--directions", nargs="+", choices=["uni", "bi"], help=f"default {FULL['directions']}")
    p.add_argument("--hidden", nargs="+", type=int, help=f"default {FULL['hidden']}")
    p.add_argument("--seq", nargs="+", type=int, help=f"default {FULL['seq']}")
    p.add_argument("--batch", nargs="+", type=int, help=f"default {FULL['batch']}")
    p.add_argument("--threads", nargs="+", type=int, help=f"threads per worker, each setting in turn; "
                   f"default {FULL['threads']}")
    p.add_argument("--rounds", type=int, help="rounds of A B C per shape (default 5, --quick 3)")
    p.add_argument("--quick", action="store_true", help=f"tiny grid for unset options: {QUICK}")
    p.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=list(CANDIDATES))
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per worker (the first compiles)")
    p.add_argument("--steps", type=int, default=0, help="timed steps per round (0: about --round-seconds)")
    p.add_argument("--round-seconds", type=float, default=2.0)
    p.add_argument("--settle", type=float, default=0.2, help="pause (s) before each timed run")
    p.add_argument("--max-spread", type=float, default=1.25, help="largest max/min of ratios still shown")
    p.add_argument("--fma-units", type=int, default=2, help="FMA units per core for the FP32 peak")
    p.add_argument("--pin", action="store_true", help="pin each worker to the first N usable CPUs")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip rnnsuite vs Keras equality")
    p.add_argument("--torch-python", default=str(ROOT / ".venv-torch/bin/python"))
    p.add_argument("--json", help="default benchmarks/results/rnn_speed.json (--quick: rnn_speed_quick.json)")
    p.add_argument("--md", help="default benchmarks/results/rnn_speed.md (--quick: rnn_speed_quick.md)")
    args = p.parse_args(argv)
    stem = "benchmarks/results/rnn_speed" + ("_quick" if args.quick else "")  # never over the full grid
    args.json, args.md = args.json or f"{stem}.json", args.md or f"{stem}.md"
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    usable = len(os.sched_getaffinity(0))
    if any(t > usable for t in args.threads):
        print(f"only {usable} CPUs usable: dropping thread settings above that")
        args.threads = [t for t in args.threads if t <= usable]
    pythons = {name: sys.executable for name in args.candidates if name != "torch"}
    if "torch" in args.candidates:
        if Path(args.torch_python).exists():
            pythons["torch"] = args.torch_python
        else:
            print(f"torch candidate skipped: no {args.torch_python} (run scripts/setup_torch.sh, "
                  f"or pass --torch-python)")
    peaks = {str(t): machine_peak(t, args.fma_units) for t in args.threads}
    print("FP32 peak (read and assumed):", json.dumps(peaks[str(args.threads[0])]))
    doc = {"command": _harness.command("benchmarks.rnn_speed", argv),
           "machine": {"cpu": peaks[str(args.threads[0])]["cpu"], "cpus": usable,
                       "python": platform.python_version(), "started": time.strftime("%Y-%m-%d %H:%M")},
           "settings": vars(args) | {"candidates": list(pythons),
                                     "torch_python": _harness.without_root(args.torch_python)},
           "peaks": peaks, "versions": {}, "load_before": os.getloadavg()[0], "shapes": []}
    print(f"load average (1 min) before: {doc['load_before']:.2f}")
    grid = itertools.product(args.threads, args.cells, args.directions, args.hidden, args.seq, args.batch)
    for threads, cell, direction, hidden, seq, batch in grid:
        shape = {"cell": cell, "direction": direction, "hidden": hidden, "seq": seq, "batch": batch,
                 "threads": threads}
        row = run_shape(shape, pythons, args, peaks[str(threads)]["gflops"])
        for cand in row["candidates"].values():
            doc["versions"].update({k: v for k, v in cand["ready"].items() if k in VERSIONED})
        doc["shapes"].append(row)
        doc["load_after"] = os.getloadavg()[0]
        print(shape, {n: round(c["median_tokens_per_s"]) for n, c in row["candidates"].items()},
              {k: r["text"] for k, r in row["ratios"].items()}, flush=True)
        for path, text in ((args.json, json.dumps(doc, indent=1)), (args.md, markdown(doc))):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, text)  # after every shape: a long grid that stops keeps what it measured
    print(f"load average (1 min) after: {doc['load_after']:.2f}")
    print(markdown(doc))
    failed = [r["shape"] for r in doc["shapes"] if check_of(r) and not check_of(r)["ok"]]
    if failed:
        raise SystemExit(f"rnnsuite differs from stock Keras beyond 1e-5 at: {failed}")
    print(f"wrote {args.json} and {args.md}")


if __name__ == "__main__":
    main()
