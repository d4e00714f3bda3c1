"""The matmul ceiling: the GFLOP/s TensorFlow's matmuls reach on this machine, per thread count.

Why: rnn_speed's "% peak" divides by an arithmetic FP32 peak (cores x FMA units x lanes x 2 x clock)
that assumes how many FMA units a core has and that its widest vectors run at full rate; neither
is in /proc/cpuinfo (AMD's Zen 4, for one, runs AVX-512 on 256-bit units). A measured rate says
how far an RNN implementation really is from what the machine's matmuls can do. Two rates per
thread count, each measured in its own process with the pools sized as rnn_speed's workers:

- large: one 2048 x 2048 x 2048 matmul, TensorFlow's best case;
- step: the recurrence's own matmul, ``[batch, H] @ [H, G*H]`` (G = 4 LSTM, 3 GRU), chained step
  after step in an XLA while loop, each step reading the previous one's result as an RNN does.
  That is the bound of the time loops, which hold a third of the training FLOPs (the other
  matmuls run over all timesteps at once, near the large rate). Between steps only a slice and
  a scale: no gate math. The better of one chain and ``threads`` chains side by side (each on
  its own inter-op thread, as two directions or batch parts run): below some size XLA's dot
  runs on one thread, and only independent chains use the other cores.

With rnn_speed's JSON at hand, each candidate's GFLOP/s at each shape is also given as % of the
step ceiling of its cell, hidden size and thread count.

    .venv/bin/python -m benchmarks.matmul_ceiling     # about a minute

Writes benchmarks/results/matmul_ceiling.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks import _harness
from benchmarks.rnn_speed import CANDIDATES, GATES, ROOT, machine_peak, percent, thread_env

MARKER = "CEILING "
LARGE = 2048
STEPS = 64  # chained step matmuls per timed call


def measure(threads: int, cells: list, hidden: list, batch: int, repeats: int) -> dict:
    """In the worker process: best-of-``repeats`` GFLOP/s of the large matmul and of each step chain."""
    _harness.set_threads(threads, threads)
    import tensorflow as tf

    def best(fn, *args) -> float:
        fn(*args)  # compiles
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(*args).numpy()
            times.append(time.perf_counter() - start)
        return min(times)

    a = tf.random.normal([LARGE, LARGE])
    large = 2 * LARGE ** 3 / best(tf.function(tf.matmul), a, a) / 1e9
    step, detail = {}, {}
    for cell in cells:
        for h in hidden:
            width = GATES[cell] * h

            @tf.function(jit_compile=True)
            def chain(x, w, h=h):
                # the slice keeps the recurrence's shape; the scale keeps values bounded. Both are
                # too cheap to matter next to the matmul.
                body = lambda t, x: (t + 1, tf.matmul(x, w)[:, :h] * 0.05)  # noqa: E731
                return tf.while_loop(lambda t, _: t < STEPS, body, (0, x))[1]

            flops = 2 * batch * h * width * STEPS
            w = tf.random.normal([h, width])
            one = flops / best(chain, tf.random.normal([batch, h]), w) / 1e9
            # ``threads`` chains at once, each on its own inter-op thread: how a bidirectional layer's
            # two directions or `fast_rnn.batch_parts` use a second core when one chain cannot
            side = tf.function(lambda xs, w, chain=chain: tf.add_n([chain(x, w) for x in xs]))
            many = threads * flops / best(side, [tf.random.normal([batch, h]) for _ in range(threads)], w) / 1e9
            step[f"{cell}/{h}"] = max(one, many)
            detail[f"{cell}/{h}"] = {"one_chain": one, "side_by_side": many}
    return {"threads": threads, "large_gflops": large, "step_gflops": step, "step_detail": detail,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


def run_worker(threads: int, args) -> dict:
    """One thread count's measurement in a fresh process (pools sized before TensorFlow loads)."""
    spec = {"threads": threads, "cells": args.cells, "hidden": args.hidden, "batch": args.batch,
            "repeats": args.repeats}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.matmul_ceiling", "--worker", json.dumps(spec)],
                          cwd=ROOT, env=thread_env(dict(os.environ), threads), capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    raise SystemExit(f"the {threads}-thread ceiling worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def against_rnn_speed(doc: dict, speed: dict) -> list[str]:
    """Per cell, direction and thread count: each candidate's range of GFLOP/s as % of the step ceiling."""
    ceilings = {str(c["threads"]): c["step_gflops"] for c in doc["ceilings"]}
    groups = {}
    for row in speed.get("shapes", []):
        sh = row["shape"]
        ceiling = ceilings.get(str(sh["threads"]), {}).get(f"{sh['cell']}/{sh['hidden']}")
        if not ceiling:
            continue
        key = (sh["cell"], sh["direction"], sh["threads"])
        for name, cand in row["candidates"].items():
            groups.setdefault(key, {}).setdefault(name, []).append(100 * cand["gflops"] / ceiling)
    if not groups:
        return []
    names = [n for n in CANDIDATES if any(n in g for g in groups.values())]
    lines = ["", f"Against `{speed.get('command', 'rnn_speed')}` ({speed['machine']['started']}): each "
             "candidate's GFLOP/s at every shape as % of the step ceiling of the same cell, hidden size and "
             "thread count (range over hidden and sequence lengths; median in brackets).", "",
             "| cell | dir | threads | " + " | ".join(names) + " |", "|" + "---|" * (3 + len(names))]
    for (cell, direction, threads), cands in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        cells = [f"{percent(min(v))}–{percent(max(v))} ({percent(statistics.median(v))})" if v else "—"
                 for v in (cands.get(n, []) for n in names)]
        lines.append(f"| {cell} | {direction} | {threads} | " + " | ".join(cells) + " |")
    return lines


def markdown(doc: dict, speed: dict | None) -> str:
    peaks = doc["peaks"]
    steps = sorted({k for c in doc["ceilings"] for k in c["step_gflops"]},
                   key=lambda k: (k.split("/")[0], int(k.split("/")[1])))
    lines = ["# Matmul ceiling", "",
             f"Generated by `{doc['command']}` on {doc['machine']['cpu']}, {doc['machine']['started']}; "
             f"load average {doc['load_before']:.2f} before, {doc['load_after']:.2f} after. GFLOP/s, best of "
             f"{doc['settings']['repeats']}. large: one {LARGE}³ matmul. step: [{doc['settings']['batch']}, H] @ "
             f"[H, G·H] chained {STEPS} times in an XLA loop (lstm G = 4, gru G = 3), the better of one chain and one "
             "chain per thread side by side (`step_detail` in the JSON has both). The arithmetic peak is "
             "rnn_speed's (FMA units assumed); the measured rates show how much of it is reachable.", "",
             "| threads | arithmetic peak | large | " + " | ".join(f"step {k}" for k in steps) + " |",
             "|" + "---|" * (3 + len(steps))]
    for c in doc["ceilings"]:
        peak = peaks[str(c["threads"])]["gflops"]
        cells = [f"{c['step_gflops'][k]:.1f} ({percent(100 * c['step_gflops'][k] / peak)})" for k in steps]
        lines.append(f"| {c['threads']} | {peak:.1f} | {c['large_gflops']:.1f} "
                     f"({percent(100 * c['large_gflops'] / peak)}) | " + " | ".join(cells) + " |")
    lines += against_rnn_speed(doc, speed) if speed else []
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="thread counts, one process each")
    p.add_argument("--cells", nargs="+", choices=list(GATES), default=list(GATES))
    p.add_argument("--hidden", nargs="+", type=int, default=[128, 256, 512])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5, help="timed calls per rate; the best one counts")
    p.add_argument("--fma-units", type=int, default=2, help="FMA units per core for the arithmetic peak")
    p.add_argument("--rnn-speed", default="benchmarks/results/rnn_speed.json",
                   help="rnn_speed's JSON to set against the ceiling (skipped when absent)")
    p.add_argument("--json", default="benchmarks/results/matmul_ceiling.json")
    p.add_argument("--md", default="benchmarks/results/matmul_ceiling.md")
    p.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one measurement, JSON spec
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(MARKER + json.dumps(measure(spec["threads"], spec["cells"], spec["hidden"], spec["batch"],
                                          spec["repeats"])), flush=True)
        return
    usable = len(os.sched_getaffinity(0))
    threads = [t for t in args.threads if t <= usable]
    if not threads:
        raise SystemExit(f"only {usable} CPUs usable: no thread count of {args.threads} fits")
    peaks = {str(t): machine_peak(t, args.fma_units) for t in threads}
    doc = {"command": _harness.command("benchmarks.matmul_ceiling", argv),
           "machine": {"cpu": peaks[str(threads[0])]["cpu"], "cpus": usable,
                       "started": time.strftime("%Y-%m-%d %H:%M")},
           "settings": {k: v for k, v in vars(args).items() if k != "worker"}, "peaks": peaks,
           "load_before": os.getloadavg()[0]}
    doc["ceilings"] = [run_worker(t, args) for t in threads]
    doc["load_after"] = os.getloadavg()[0]
    speed_path = ROOT / args.rnn_speed
    speed = json.loads(speed_path.read_text()) if speed_path.is_file() else None
    report = markdown(doc, speed)
    _harness.write_text(args.json, json.dumps(doc, indent=1))
    _harness.write_text(args.md, report)
    print(report)
    print(f"wrote {args.json} and {args.md}")


if __name__ == "__main__":
    main()
