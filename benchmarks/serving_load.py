"""Load test of the built-in REST server (common/serving.py) over loopback.

Starts the server on 127.0.0.1 in a subprocess for an export folder, sends N predict
requests at concurrency C from a thread pool (each worker keeps one HTTP connection
and reopens it whenever the server closes it, as ``requests.Session`` would), and
reports p50/p99 latency, requests/s and errors as a table and a JSON file.

Several server implementations can be compared: give ``--server-file`` more than once
(e.g. the original serving.py saved from main, and the current one). Each runs in its
own subprocess and the rounds alternate (A B B A ...) so both see the same machine
noise; the table shows every round and the median per server.

    git show b874a3e:common/serving.py > /tmp/serving_before.py   # the server before issue #13
    PYTHONPATH=. python benchmarks/serving_load.py --export runs/sentiment/demo/export \\
        --name sentiment --server-file /tmp/serving_before.py --server-file common/serving.py

``--new-connection`` measures clients that do not keep connections alive (curl, urllib).
Bounded: at most --requests per round and --max-seconds per round; loopback only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import _harness

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PAYLOAD = {"instances": ["the film was wonderful and the ending was superb"]}

_SERVER_CODE = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("serving_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
httpd = module.make_server(sys.argv[2], sys.argv[3], host="127.0.0.1", port=0)
print(httpd.server_port, flush=True)
httpd.serve_forever()
"""


class Server:
    """One server implementation in a subprocess, bound to an ephemeral loopback port."""

    def __init__(self, server_file: str, export: str, name: str):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER_CODE, server_file, export, name],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        line = self.proc.stdout.readline()  # blocks until the model is loaded and the socket is bound
        if not line.strip().isdigit():
            self.close()
            raise SystemExit(f"the server from {server_file} did not start (exit {self.proc.poll()})")
        self.port = int(line)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(port: int, path: str, body: bytes, requests: int, concurrency: int, max_seconds: float,
         new_connection: bool = False) -> dict:
    """Send ``requests`` POSTs from ``concurrency`` threads; latencies of the 200s, errors and rate.

    ``new_connection``: a fresh connection per request (like curl or urllib), else keep-alive
    whenever the server allows it."""
    lock = threading.Lock()
    state = {"next": 0, "latencies": [], "errors": 0, "connections": 0, "error_kinds": {}}
    deadline = time.perf_counter() + max_seconds
    headers = {"Content-Type": "application/json"}

    def worker():
        conn = None
        while True:
            with lock:
                if state["next"] >= requests or time.perf_counter() > deadline:
                    break
                state["next"] += 1
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    with lock:
                        state["connections"] += 1
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                kind = f"HTTP {response.status}"
                if response.will_close or new_connection:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                ok, kind = False, type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    state["latencies"].append(elapsed)
                else:
                    state["errors"] += 1
                    state["error_kinds"][kind] = state["error_kinds"].get(kind, 0) + 1
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    lat = state["latencies"]
    return {"requests": state["next"], "ok": len(lat), "errors": state["errors"],
            "error_kinds": state["error_kinds"], "connections": state["connections"],
            "p50 ms": 1000 * _harness.percentile(lat, 50) if lat else float("nan"),
            "p99 ms": 1000 * _harness.percentile(lat, 99) if lat else float("nan"),
            "max ms": 1000 * max(lat) if lat else float("nan"),
            "req/s": len(lat) / wall, "wall s": wall}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export", required=True, help="an export folder (holds saved_model.pb)")
    p.add_argument("--name", required=True, help="model name in the URL (e.g. sentiment)")
    p.add_argument("--server-file", action="append", default=None,
                   help="serving module file to test (repeatable; default common/serving.py)")
    p.add_argument("--label", action="append", default=None,
                   help="a label per --server-file for the table (default: the file name)")
    p.add_argument("--requests", type=int, default=400, help="requests per round (default 400)")
    p.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds per server (default 3)")
    p.add_argument("--warmup", type=int, default=40, help="untimed requests per server first (default 40)")
    p.add_argument("--max-seconds", type=float, default=60, help="cap on one round's duration (default 60)")
    p.add_argument("--new-connection", action="store_true",
                   help="open a new connection for every request (as curl or urllib do); default keep-alive")
    p.add_argument("--payload", default=None, help="request body as JSON (default: one sentiment text)")
    p.add_argument("--json", default="benchmarks/results/serving_load.json")
    args = p.parse_args(argv)
    if not (Path(args.export) / "saved_model.pb").exists():
        raise SystemExit(f"{args.export} has no saved_model.pb")
    files = args.server_file or [str(REPO / "common" / "serving.py")]
    labels = args.label or [Path(f).name for f in files]
    if len(labels) != len(files):
        raise SystemExit("give one --label per --server-file")
    body = (args.payload or json.dumps(DEFAULT_PAYLOAD)).encode()
    path = f"/v1/models/{args.name}:predict"
    servers = {}
    try:
        for label, f in zip(labels, files):
            servers[label] = Server(f, args.export, args.name)
            load(servers[label].port, path, body, args.warmup, args.concurrency, args.max_seconds)
        rows = []
        for r in range(args.rounds):
            order = labels if r % 2 == 0 else list(reversed(labels))
            for label in order:
                result = load(servers[label].port, path, body, args.requests, args.concurrency, args.max_seconds,
                              args.new_connection)
                rows.append({"server": label, "round": r + 1, **result})
                print(f"round {r + 1} {label}: p50 {result['p50 ms']:.1f} ms, p99 {result['p99 ms']:.1f} ms, "
                      f"max {result['max ms']:.0f} ms, "
                      f"{result['req/s']:.0f} req/s, {result['errors']} errors", flush=True)
    finally:
        for server in servers.values():
            server.close()
    medians = [{"server": label, "round": "median",
                **{k: statistics.median(r[k] for r in rows if r["server"] == label)
                   for k in ("p50 ms", "p99 ms", "max ms", "req/s")},
                "errors": sum(r["errors"] for r in rows if r["server"] == label),
                "connections": sum(r["connections"] for r in rows if r["server"] == label)}
               for label in labels]
    columns = ["server", "round", "p50 ms", "p99 ms", "max ms", "req/s", "errors", "connections"]
    _harness.print_table(rows + medians, columns)
    _harness.write_json(args.json, {"args": vars(args), "rows": rows, "medians": medians})


if __name__ == "__main__":
    main()
