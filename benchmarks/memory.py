"""Peak memory of ``predict`` over a large input (issue #31: "1 GB in, at most 1.5 GB of memory").

The check, as anyone can rerun it from the repository root:

    PYTHONPATH=$PWD python -m benchmarks.memory --scale 1

1. Trains the demo sentiment run (configs/sentiment.yaml on its synthetic reviews, 1 epoch) into the
   scratch folder, export included.
2. Writes inputs of ``--sizes-mb`` (times ``--scale``) in each of ``--formats``: the demo reviews, one
   per line (``txt``), or as the ``text`` column of a CSV with an id column (``csv``), repeated until
   the file holds that many bytes.
3. Runs ``python -m tasks.sentiment predict`` on each as a child process and reads that child's peak
   resident memory (``ru_maxrss`` of ``os.wait4``: the kernel's high-water mark of that process alone,
   no polling), its wall time and the rows it wrote.

The peak at 1 GB of input is measured when a size of 1 GB was run; otherwise it is extrapolated, and the
report says so: a straight line through the two largest measured sizes of a format (the fixed part is
TensorFlow and the model; a streaming reader adds nothing that grows with the input, so the line should
be flat). Writes benchmarks/results/memory.json and .md.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/rnnsuite_memory")
GIB_MB = 1024.0  # "1 GB of input", in MiB as the sizes are
BAR_MIB = 1536.0  # issue #31: peak at most 1.5 GB for 1 GB of input
FORMATS = ("txt", "csv")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def train_run(work: Path) -> Path:
    """The demo sentiment run, one epoch, exported; its folder. Data and run are made by child processes:
    this one stays without TensorFlow (see `peak_of_child`)."""
    make = ("import sys; from pathlib import Path; from tasks.sentiment import demo_data; "
            "print(demo_data.make_data(Path(sys.argv[1]))['data.path'])")
    data = subprocess.run([sys.executable, "-c", make, str(work / "data")], cwd=REPO, env=_env(), check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    run = work / "run"
    command = [sys.executable, "-m", "tasks.sentiment", "train", "--config", "configs/sentiment.yaml",
               "--run-dir", str(run), "--set", f"data.path={data}", "--set", "train.epochs=1",
               "--set", "train.verbose=none"]
    with open(work / "train.log", "wb") as log:
        code = subprocess.run(command, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"training the demo run failed (exit {code}); see {work / 'train.log'}")
    return run


def own_rss_mib() -> float:
    """This process's resident memory now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def demo_texts(work: Path) -> list[str]:
    """The texts of the demo reviews (what the run was trained on), in file order."""
    with open(work / "data" / "reviews.csv", newline="", encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def write_input(path: Path, texts: list[str], fmt: str, size_bytes: int) -> dict:
    """``texts`` cycled into ``path`` until it holds at least ``size_bytes``: one per line (txt) or as a
    quoted CSV column beside an id (csv). Returns its bytes and rows."""
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if fmt == "csv":
            writer.writerow(["id", "text"])
        while handle.tell() < size_bytes:
            for text in texts:
                if fmt == "csv":
                    writer.writerow([rows, text])
                else:
                    handle.write(text + "\n")
                rows += 1
            handle.flush()
    return {"input_bytes": path.stat().st_size, "rows": rows}


def peak_of_child(command: list[str], log: Path) -> dict:
    """Run ``command``; its exit status, wall seconds and peak resident memory (MiB) from ``os.wait4``.

    The kernel's high-water mark of a child counts the copy of this process it was forked from too, so
    a child's peak reads at least this process's size: ``parent_rss_mib`` records that floor, and this
    process keeps it small (no TensorFlow until every child has run)."""
    parent = own_rss_mib()
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": process.returncode, "seconds": round(time.perf_counter() - started, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "parent_rss_mib": parent}  # Linux: KiB


def predict_row(run: Path, work: Path, texts: list[str], fmt: str, size_mb: float) -> dict:
    """One predict over a fresh input of ``size_mb`` MiB in ``fmt``; the input and output are removed."""
    source, output = work / f"input_{size_mb:g}mb.{fmt}", work / f"predictions_{size_mb:g}mb_{fmt}.csv"
    made = write_input(source, texts, fmt, int(size_mb * 2**20))
    command = [sys.executable, "-m", "tasks.sentiment", "predict", "--run-dir", str(run),
               "--input", str(source), "--output", str(output)]
    child = peak_of_child(command, work / f"predict_{size_mb:g}mb_{fmt}.log")
    written = sum(1 for _ in open(output, encoding="utf-8")) - 1 if child["exit"] == 0 else None
    row = {"format": fmt, "input_mib": round(made["input_bytes"] / 2**20, 1), "rows": made["rows"],
           "rows_written": written, **child,
           "rows_per_s": round(made["rows"] / child["seconds"]) if child["seconds"] else None}
    source.unlink()
    output.unlink(missing_ok=True)
    return row


def at_one_gib(rows: list[dict]) -> dict:
    """Per format, the peak at 1 GiB of input: measured (the largest run of at least 1 GiB), or a straight
    line through the two largest sizes, marked as extrapolated; with the bar's verdict."""
    out = {}
    for fmt in dict.fromkeys(r["format"] for r in rows):
        done = sorted((r for r in rows if r["format"] == fmt and r["exit"] == 0),
                      key=lambda r: r["input_mib"])
        big = [r for r in done if r["input_mib"] >= GIB_MB]
        if big:
            peak, how = big[0]["peak_rss_mib"], f"measured at {big[0]['input_mib']:g} MiB"
        elif len(done) >= 2:
            a, b = done[-2], done[-1]
            slope = (b["peak_rss_mib"] - a["peak_rss_mib"]) / (b["input_mib"] - a["input_mib"])
            peak = round(b["peak_rss_mib"] + max(slope, 0.0) * (GIB_MB - b["input_mib"]), 1)
            how = (f"extrapolated: straight line through {a['input_mib']:g} and {b['input_mib']:g} MiB "
                   f"({slope * 100:+.2f} MiB per 100 MiB of input{', taken as 0' if slope < 0 else ''})")
        else:
            continue
        out[fmt] = {"peak_rss_mib": peak, "how": how, "bar_mib": BAR_MIB, "met": bool(peak <= BAR_MIB)}
    return out


def markdown(doc: dict) -> str:
    from benchmarks._harness import markdown_table

    m = doc["machine"]
    rows = [{"format": r["format"], "input MiB": r["input_mib"], "rows": r["rows"],
             "rows written": r["rows_written"], "seconds": r["seconds"], "rows/s": r["rows_per_s"],
             "peak RSS MiB": r["peak_rss_mib"], "parent RSS MiB": r["parent_rss_mib"], "exit": r["exit"]}
            for r in doc["rows"]]
    verdicts = [f"- **{fmt}: {v['peak_rss_mib']:.0f} MiB at 1 GiB of input ({v['how']}); bar "
                f"{v['bar_mib']:.0f} MiB {'met' if v['met'] else 'MISSED'}.**"
                for fmt, v in doc["at_1_gib"].items()]
    return "\n".join([
        "# Peak memory of predict over a large input", "",
        f"Generated by `{doc['command']}` on {m['cpu']} ({m['nproc']} CPUs), TensorFlow {m['tensorflow']}, "
        f"load average {m['load_average'][0]:.2f} at the end.", "",
        "`python -m tasks.sentiment predict` of the demo sentiment run (BiGRU 32 with attention, 1 epoch) "
        "over inputs made of its synthetic reviews cycled to each size: one text per line (txt), or the "
        "text column of a CSV beside an id (csv). Each predict is its own process; peak RSS is that "
        "process's high-water mark (`ru_maxrss` from `os.wait4`), TensorFlow and the model included; it "
        "cannot read below the size of the process that started it (parent RSS, kept without TensorFlow). "
        "Inputs and outputs live in a scratch folder and are removed after each run.", "",
        *verdicts, "",
        markdown_table(rows, list(rows[0]) if rows else []), ""])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mb", default="10,200",
                        help="Input sizes in MiB, comma-separated (each times --scale).")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="Multiplies every size: 5 measures 1 GiB directly, 0.25 a quick run.")
    parser.add_argument("--formats", default=",".join(FORMATS), help="Input layouts: txt, csv or both.")
    parser.add_argument("--work", default=str(WORK), help="Scratch folder (emptied first).")
    parser.add_argument("--json", default="benchmarks/results/memory.json")
    parser.add_argument("--md", default="benchmarks/results/memory.md")
    args = parser.parse_args(argv)

    import shutil

    from benchmarks._harness import command, machine, write_json, write_text

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats or set(formats) - set(FORMATS):
        parser.error(f"--formats: choose from {', '.join(FORMATS)}")
    sizes = [round(float(s) * args.scale, 3) for s in args.sizes_mb.split(",")]
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    run = train_run(work)
    texts = demo_texts(work)
    rows = []
    for fmt in formats:
        for size in sizes:
            row = predict_row(run, work, texts, fmt, size)
            rows.append(row)
            print(f"{fmt} {row['input_mib']} MiB: peak {row['peak_rss_mib']} MiB in {row['seconds']} s "
                  f"(exit {row['exit']})", flush=True)
    doc = {"command": command("benchmarks.memory", argv), "machine": machine(), "sizes_mb": sizes,
           "rows": rows, "at_1_gib": at_one_gib(rows)}
    write_json(args.json, doc)
    write_text(args.md, markdown(doc))
    shutil.rmtree(work, ignore_errors=True)
    return doc


if __name__ == "__main__":
    main()
