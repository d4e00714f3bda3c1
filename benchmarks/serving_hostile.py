"""The REST server under a bounded hostile mix: latency of normal requests and the server's memory.

Issue #34's bar: with oversized generation, huge texts and disconnecting clients going on, the p99 latency
of normal requests stays under 100 ms and the server's memory under 1 GB, and the server still answers.

Trains (or reuses) a tiny language-model run and a tiny sentiment run from the demo configs (one epoch) under
``--run-root``, starts the real server for each (``python -m tasks.<task> serve --port 0``, default limits
unless ``--serve-flag`` says otherwise) in a subprocess, then alternates phases of ``--seconds`` each:
baseline (normal clients only), hostile (the same normal clients plus the hostile mix), baseline, hostile...
so both kinds of phase see the same noise of this shared machine; the table shows every phase.

Normal clients: one per server, sequential, keep-alive, a short request (a one-sentence review for
sentiment; a three-word prompt for the language model's ``serving_default``, which generates the demo
config's 12 tokens); the latency of each 200 is recorded. The hostile mix runs in a separate process (so
its client work does not slow the normal client's clock), one thread per kind, each sequential, so the mix
is bounded (at most about ten hostile connections open at once):

* ``generation``: the language model's ``generate`` asking for 10**9 tokens (must be refused with 400) and,
  alternately, for exactly the server's cap at temperature 1.5 for 8 prompts (200, bounded work);
* ``big_bodies``: a body just under ``--max-body`` (many strings of ``--max-text`` characters), one
  announced above it (413 unread), a single string one character over ``--max-text`` (400) and one exactly
  at it (200);
* ``disconnect``: a generation request at the cap, then the socket closed without reading the reply;
* ``slowloris``: four connections trickling header lines, then bodies, a few bytes at a time (the server
  must answer 408 or close within its ``--timeout``);
* ``malformed``: invalid and truncated JSON, NaN / Infinity / 1e999 in a float input, deeply nested
  arrays, wrong types, an unknown method (each must get a 4xx, never a 5xx or a hang).

The server's memory is its VmRSS polled every 50 ms (peak per phase) and VmHWM (peak since start) from
/proc/<pid>/status. At the end of each phase the benchmark checks that every server still answers.

    PYTHONPATH=. python -m benchmarks.serving_hostile            # about 3 minutes (training included)

Bounded: every phase stops after ``--seconds``; every socket has a timeout; loopback only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import _harness

REPO = Path(__file__).resolve().parent.parent
P99_BAR_MS, RSS_BAR_MIB = 100.0, 1024.0
CATEGORIES = ("generation", "big_bodies", "disconnect", "slowloris", "malformed")
NORMAL = {"sentiment": {"instances": ["the film was wonderful and the ending was superb"]},
          "language_model": {"instances": ["the small cats"]}}
DEFAULT_LIMITS = {"max_body": 32 << 20, "max_text": 100_000, "max_tokens": 512, "timeout": 5.0}


# ---------------------------------------------------------------- pure helpers (tested)

def latency_summary(seconds: list) -> dict:
    """p50 / p99 / max in milliseconds and the count of a list of latencies in seconds (NaN when empty)."""
    if not seconds:
        return {"n": 0, "p50 ms": math.nan, "p99 ms": math.nan, "max ms": math.nan}
    return {"n": len(seconds), "p50 ms": 1000 * _harness.percentile(seconds, 50),
            "p99 ms": 1000 * _harness.percentile(seconds, 99), "max ms": 1000 * max(seconds)}


def vm_kib(status_text: str, field: str) -> int | None:
    """A ``VmRSS`` / ``VmHWM`` field of /proc/<pid>/status, in KiB (None when absent)."""
    match = re.search(rf"^{field}:\s+(\d+)\s+kB", status_text, re.MULTILINE)
    return int(match.group(1)) if match else None


def merge_counts(*counts: dict) -> dict:
    """``{category: {outcome: n}}`` dictionaries added up."""
    out: dict = {}
    for count in counts:
        for category, outcomes in count.items():
            slot = out.setdefault(category, {})
            for outcome, n in outcomes.items():
                slot[outcome] = slot.get(outcome, 0) + n
    return out


def unexpected(counts: dict) -> dict:
    """The outcomes no hostile request should get: a 5xx, a client-side timeout (a hang) or a refusal to
    connect, per category."""
    bad = {}
    for category, outcomes in counts.items():
        found = {k: n for k, n in outcomes.items() if k.startswith("5") or k in ("timeout", "refused")}
        if found:
            bad[category] = found
    return bad


def verdict(rows: list, alive: bool, counts: dict) -> dict:
    """Issue #34's bar over the hostile phases' rows: p99 of normal requests, peak RSS, and the server
    still answering with no hostile request hanging or getting a 5xx."""
    hostile = [r for r in rows if r["phase"] == "hostile"]
    worst_p99 = max((r["p99 ms"] for r in hostile), default=math.nan)
    worst_rss = max((r["peak RSS MiB"] for r in rows), default=math.nan)
    checks = {"p99 under 100 ms": bool(worst_p99 < P99_BAR_MS),
              "RSS under 1 GiB": bool(worst_rss < RSS_BAR_MIB),
              "still answering": bool(alive), "no 5xx or hang": not unexpected(counts)}
    return {"worst hostile p99 ms": worst_p99, "worst peak RSS MiB": worst_rss, "checks": checks,
            "passed": all(checks.values())}


def markdown(doc: dict) -> str:
    v = doc["verdict"]
    how = (f"{doc['args']['rounds']} rounds of a {doc['args']['seconds']:g} s baseline phase and a hostile "
           "phase, alternated, with both servers running throughout (their default limits unless the command "
           "says otherwise). Latency: the normal client's 200s; RSS: the server process's peak VmRSS in the "
           "phase (VmHWM is since start). Bar (issue #34): hostile p99 under 100 ms, RSS under 1 GiB, still "
           f"answering, no 5xx or hang. **{'Passed' if v['passed'] else 'Failed'}**: "
           + ", ".join(f"{k}: {'yes' if ok else 'NO'}" for k, ok in v["checks"].items()) + ".")
    text = _harness.report("Serving under a hostile mix", doc, how,
                           ["server", "round", "phase", "n", "p50 ms", "p99 ms", "max ms", "errors",
                            "peak RSS MiB", "VmHWM MiB"])
    lines = ["", "Hostile requests by outcome (HTTP status, `closed`: the server closed the connection "
             "without a reply, `sent`: sent and dropped by the client, `timeout`: no answer in 30 s), all "
             "rounds:", ""]
    outcomes = sorted({o for c in doc["hostile_counts"].values() for o in c})
    lines.append(_harness.markdown_table(
        [{"category": c, **doc["hostile_counts"].get(c, {})} for c in CATEGORIES], ["category", *outcomes]))
    return text + "\n".join(lines) + "\n"


# ---------------------------------------------------------------- servers

class Server:
    """``python -m tasks.<task> serve --port 0`` in a subprocess; its port, pid and memory."""

    def __init__(self, task: str, run_dir: Path, flags: list):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.task, self.name = task, task
        command = [sys.executable, "-m", f"tasks.{task}", "serve", "--run-dir", str(run_dir),
                   "--host", "127.0.0.1", "--port", "0", *flags]
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        line = self.proc.stdout.readline()  # "Serving ... at http://127.0.0.1:PORT/v1/..."
        match = re.search(r"127\.0\.0\.1:(\d+)/", line)
        if not match:
            self.close()
            raise SystemExit(f"the {task} server did not start (exit {self.proc.poll()}): {line.strip()}")
        self.port = int(match.group(1))
        self.path = f"/v1/models/{self.name}:predict"
        self._peak, self._stop = 0, threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def status_field(self, field: str) -> int:
        try:
            return vm_kib(Path(f"/proc/{self.proc.pid}/status").read_text(), field) or 0
        except OSError:
            return 0

    def _poll(self):
        while not self._stop.wait(0.05):
            self._peak = max(self._peak, self.status_field("VmRSS"))

    def take_peak_mib(self) -> float:
        """Peak VmRSS since the last call, in MiB (and start a new peak)."""
        peak, self._peak = max(self._peak, self.status_field("VmRSS")), 0
        return peak / 1024

    def answers(self) -> bool:
        try:
            body = json.dumps(NORMAL[self.task]).encode()
            status, _ = request(self.port, "POST", self.path, body, timeout=10)
            return status == 200 and self.proc.poll() is None
        except OSError:
            return False

    def close(self):
        if hasattr(self, "_stop"):
            self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def request(port: int, method: str, path: str, body: bytes | None, timeout: float = 30) -> tuple:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"} if body is not None else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def ensure_run(task: str, run_dir: Path, epochs: int) -> None:
    """Train the demo config for ``epochs`` into ``run_dir`` unless it holds an export already."""
    if (run_dir / "export" / "saved_model.pb").exists():
        return
    print(f"training {task} into {run_dir} ...", flush=True)
    subprocess.run([sys.executable, "-m", f"tasks.{task}", "train", "--config", f"configs/{task}.yaml",
                    "--run-dir", str(run_dir), "--set", f"train.epochs={epochs}", "--overwrite"],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)})


# ---------------------------------------------------------------- clients

def normal_client(port: int, path: str, body: bytes, deadline: float, out: dict) -> None:
    """Sequential keep-alive requests until ``deadline``: latencies of the 200s, other outcomes counted."""
    conn = None
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            kind = str(response.status)
            if response.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            if conn is not None:
                conn.close()
            conn = None
        if kind == "200":
            out["latencies"].append(time.perf_counter() - start)
        else:
            out["errors"][kind] = out["errors"].get(kind, 0) + 1
    if conn is not None:
        conn.close()


def _raw(port: int, data: bytes, read: bool = True, timeout: float = 30) -> str:
    """Send raw bytes; the reply's status code, ``closed`` (no reply), ``timeout`` or ``refused``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(data)
            if not read:
                return "sent"
            return _status_of(sock)
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "closed"


def _status_of(sock) -> str:
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            return "closed"
        head += chunk
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return match.group(1).decode() if match else "garbage"


def _post(path: str, body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def hostile_bodies(limits: dict) -> dict:
    """The hostile requests' bodies, built once: {name: bytes}."""
    text = ("w" * 9 + " ") * (limits["max_text"] // 10)
    n_strings = max(1, (limits["max_body"] - 100) // (len(text) + 3))
    gen = {"prompt": "the small cats", "temperature": 1.5, "top_k": 0, "top_p": 1.0, "seed": 1}
    return {
        "near_max_body": json.dumps({"instances": [text] * n_strings}).encode(),
        "text_over_max": json.dumps({"instances": ["w" * (limits["max_text"] + 1)]}).encode(),
        "text_at_max": json.dumps({"instances": ["w" * limits["max_text"]]}).encode(),
        "gen_huge": json.dumps({"signature_name": "generate",
                                "instances": [{**gen, "max_tokens": 10 ** 9}]}).encode(),
        "gen_cap": json.dumps({"signature_name": "generate",
                               "instances": [{**gen, "max_tokens": limits["max_tokens"], "seed": i}
                                             for i in range(8)]}).encode(),
    }


def hostile_mix(ports: dict, limits: dict, seconds: float, queue, categories=CATEGORIES) -> None:
    """The hostile clients (a process of their own) of ``categories``: run until ``seconds`` pass, put the
    outcome counts."""
    bodies = hostile_bodies(limits)
    lm, sent = ports["language_model"], ports["sentiment"]
    lm_path, sent_path = "/v1/models/language_model:predict", "/v1/models/sentiment:predict"
    deadline = time.perf_counter() + seconds
    counts = {c: {} for c in CATEGORIES}
    lock = threading.Lock()

    def note(category, outcome):
        with lock:
            counts[category][outcome] = counts[category].get(outcome, 0) + 1

    def generation():
        while time.perf_counter() < deadline:
            note("generation", _raw(lm, _post(lm_path, bodies["gen_huge"])))
            note("generation", _raw(lm, _post(lm_path, bodies["gen_cap"])))

    def big_bodies():
        while time.perf_counter() < deadline:
            note("big_bodies", _raw(sent, _post(sent_path, bodies["near_max_body"])))
            note("big_bodies", _raw(sent, _post(sent_path, b"{", length=limits["max_body"] + 1)))
            note("big_bodies", _raw(sent, _post(sent_path, bodies["text_over_max"])))
            note("big_bodies", _raw(sent, _post(sent_path, bodies["text_at_max"])))

    def disconnect():
        while time.perf_counter() < deadline:
            note("disconnect", _raw(lm, _post(lm_path, bodies["gen_cap"]), read=False))
            time.sleep(0.1)

    def slowloris(slow_body):
        while time.perf_counter() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", lm if slow_body else sent), timeout=30) as sock:
                    if slow_body:
                        sock.sendall(_post(lm_path, b'{"instances": ', length=1000))
                        parts = [b" "] * 200
                    else:
                        parts = [f"POST {sent_path} HTTP/1.1\r\n".encode()] + [b"X-Slow: 1\r\n"] * 200
                    outcome = "closed"
                    for part in parts:
                        sock.sendall(part)
                        sock.settimeout(0.5)
                        try:
                            outcome = _status_of(sock)
                            break
                        except TimeoutError:
                            continue
                        finally:
                            sock.settimeout(30)
                    else:
                        outcome = "timeout"  # still open after 100 s of trickling: not bounded
            except OSError:
                outcome = "closed"
            note("slowloris", outcome)

    malformed_bodies = [b'{"instances": [', b"not json", b'{"instances": ["a"]', b"\xff\xfe",
                        b"[" * 100_000 + b"]" * 100_000, b'{"instances": [[[["a"]]]]}',
                        b'{"instances": [{"prompt": "a", "max_tokens": "many"}], '
                        b'"signature_name": "generate"}']
    for bad in (b"NaN", b"Infinity", b"-Infinity", b"1e999"):
        malformed_bodies.append(b'{"signature_name": "generate", "instances": [{"prompt": "a", '
                                b'"max_tokens": 5, "temperature": ' + bad + b', "top_k": 0, "top_p": 1.0, '
                                b'"seed": 1}]}')

    def malformed():
        while time.perf_counter() < deadline:
            for body in malformed_bodies:
                note("malformed", _raw(lm, _post(lm_path, body)))
            note("malformed", _raw(sent, b"BREW /v1/models/sentiment:predict HTTP/1.1\r\nHost: x\r\n\r\n"))
            note("malformed", _raw(sent, b"\x00\x01garbage\r\n\r\n"))

    clients = [(generation, ()), (big_bodies, ()), (disconnect, ()), (malformed, ()),
               (slowloris, (False,)), (slowloris, (False,)), (slowloris, (True,)), (slowloris, (True,))]
    threads = [threading.Thread(target=f, args=a) for f, a in clients if f.__name__ in categories]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(counts)


# ---------------------------------------------------------------- phases

def phase(servers: dict, hostile: bool, seconds: float, limits: dict, categories=CATEGORIES) -> tuple:
    """One phase: a normal client per server for ``seconds`` (and the hostile mix when ``hostile``);
    a row per server and the hostile outcome counts."""
    deadline = time.perf_counter() + seconds
    ctx = multiprocessing.get_context("fork")  # the client process has no TensorFlow: forking is safe
    queue = ctx.Queue()
    mix = None
    if hostile:
        ports = {k: s.port for k, s in servers.items()}
        mix = ctx.Process(target=hostile_mix, args=(ports, limits, seconds, queue, categories))
        mix.start()
    results = {k: {"latencies": [], "errors": {}} for k in servers}
    threads = [threading.Thread(target=normal_client,
                                args=(s.port, s.path, json.dumps(NORMAL[k]).encode(), deadline, results[k]))
               for k, s in servers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {}
    if mix is not None:
        counts = queue.get(timeout=300)  # a hostile client's sockets time out after 30 s at most
        mix.join(30)
    rows = [{"server": k, "phase": "hostile" if hostile else "baseline", **latency_summary(r["latencies"]),
             "errors": sum(r["errors"].values()), "error kinds": r["errors"],
             "peak RSS MiB": s.take_peak_mib(), "VmHWM MiB": s.status_field("VmHWM") / 1024}
            for (k, s), r in zip(servers.items(), results.values())]
    return rows, counts


def parse_limits(flags: list) -> dict:
    """The limits the hostile mix aims at: the defaults, overridden by ``--max-body`` etc. in ``flags``."""
    limits = dict(DEFAULT_LIMITS)
    for i, flag in enumerate(flags[:-1]):
        key = flag.lstrip("-").replace("-", "_")
        if key in limits:
            limits[key] = type(limits[key])(flags[i + 1])
    return limits


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-root", default="runs/benchmarks/serving_hostile",
                   help="where the two tiny runs are trained, or reused when they hold an export")
    p.add_argument("--epochs", type=int, default=1, help="training epochs of the tiny runs (default 1)")
    p.add_argument("--seconds", type=float, default=30, help="length of each phase (default 30)")
    p.add_argument("--rounds", type=int, default=2, help="baseline + hostile pairs (default 2)")
    p.add_argument("--serve-flag", action="append", default=[],
                   help="a flag for both servers, e.g. --serve-flag=--max-body=1048576 (repeatable)")
    p.add_argument("--category", action="append", choices=CATEGORIES,
                   help="run only this kind of hostile client (repeatable; default all)")
    p.add_argument("--json", default="benchmarks/results/serving_hostile.json")
    p.add_argument("--markdown", default="benchmarks/results/serving_hostile.md")
    args = p.parse_args(argv)
    flags = [part for f in args.serve_flag for part in f.split("=", 1)]
    limits = parse_limits(flags)
    root = Path(args.run_root)
    for task in NORMAL:
        ensure_run(task, root / task, args.epochs)
    servers = {}
    rows, counts, alive = [], {}, True
    try:
        for task in NORMAL:
            servers[task] = Server(task, root / task, flags)
        phase(servers, False, 3, limits)  # warm-up: first calls trace
        for r in range(args.rounds):
            for hostile in (False, True):
                got, c = phase(servers, hostile, args.seconds, limits, args.category or CATEGORIES)
                counts = merge_counts(counts, c)
                answering = all(s.answers() for s in servers.values())
                alive = alive and answering
                for row in got:
                    rows.append({"round": r + 1, **row, "answering after": answering})
                    print(f"round {r + 1} {row['phase']:8s} {row['server']:14s} n {row['n']:5d} "
                          f"p50 {row['p50 ms']:.1f} ms p99 {row['p99 ms']:.1f} ms max {row['max ms']:.0f} ms "
                          f"errors {row['errors']} peak RSS {row['peak RSS MiB']:.0f} MiB", flush=True)
                if c:
                    print(f"  hostile outcomes: {c}", flush=True)
    finally:
        for server in servers.values():
            server.close()
    medians = [{"server": k, "round": "median", "phase": ph,
                **{m: statistics.median(r[m] for r in rows if r["server"] == k and r["phase"] == ph)
                   for m in ("n", "p50 ms", "p99 ms", "max ms", "peak RSS MiB", "VmHWM MiB")},
                "errors": sum(r["errors"] for r in rows if r["server"] == k and r["phase"] == ph)}
               for k in NORMAL for ph in ("baseline", "hostile")]
    doc = {"command": _harness.command("benchmarks.serving_hostile", argv), "machine": _harness.machine(),
           "args": vars(args), "limits": limits, "rows": rows + medians, "hostile_counts": counts,
           "unexpected": unexpected(counts), "verdict": verdict(rows, alive, counts)}
    _harness.write_json(args.json, doc)
    _harness.write_text(args.markdown, markdown(doc))
    print(markdown(doc))
    return doc


if __name__ == "__main__":
    main()
