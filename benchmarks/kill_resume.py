"""Kill -9 at random moments of a sentiment run with dropout, rerun the same command, and compare the
result with a run that was never interrupted (issue #34: "bit-identical history and predictions").

The check, as anyone can rerun it from the repository root:

    PYTHONPATH=$PWD python -m benchmarks.kill_resume --trials 10 --seed 0

1. Writes a small sentiment dataset (the demo generator's synthetic reviews, ``--rows`` of them) and a
   config with every random part of the classifier's training switched on (embedding, recurrent and
   classifier dropout, recurrent dropout, the seeded shuffle), no early stopping, sized so that one
   `train` lasts some 30-60 s on two CPU cores.
2. Runs ``python -m tasks.sentiment train --config ... --run-dir A`` uninterrupted: the reference, and its
   wall time T.
3. For each trial k, draws a moment uniformly in [0, T) (seeded), starts the same command into a fresh
   ``B_k`` in its own process group, sends SIGKILL to the whole group at that moment, notes the phase the
   run folder shows (startup, training epoch n, saving, evaluation, export), then reruns the same command
   to completion.
4. Compares ``B_k`` with ``A``: history.csv and predictions_test.csv byte for byte, metrics.json without its
   timings (``*_seconds``), the weights inside model.keras bit for bit, and the export's outputs on a few
   texts bit for bit; and lists temporary files a kill left that the rerun did not remove.

Writes benchmarks/results/kill_resume.json and .md.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = Path("runs/benchmarks/kill_resume")
TEXTS = ["the film was wonderful and the ending was superb", "honestly, the plot was not charming", "",
         "the acting was tedious and the script was dull", "what a " + "truly " * 80 + "great film"]
TIMING = "_seconds"  # metrics.json keys that measure time, not results
FINISHED = "already holds a finished run"  # what train answers (exit 2) in a folder that was finished


def config_text(data_path: str, epochs: int, seed: int) -> str:
    """The run's config: the demo config's model with every dropout on and no early stopping."""
    return f"""task: sentiment
name: kill_resume
seed: {seed}
data:
  path: {data_path}
  val_fraction: 0.1
  test_fraction: 0.1
model:
  max_tokens: 2000
  max_length: 40
  embedding_dim: 32
  embedding_dropout: 0.2
  rnn:
    cell: gru
    units: 32
    layers: 1
    bidirectional: true
    dropout: 0.2
    recurrent_dropout: 0.2
  pooling: attention
  attention_units: 32
  dropout: 0.3
train:
  epochs: {epochs}
  batch_size: 32
  learning_rate: 0.003
  early_stopping_patience: 0
  tensorboard: false
  verbose: epoch
"""


def make_data(folder: Path, rows: int) -> Path:
    """``rows`` synthetic reviews (rounded up to the demo generator's 1,200 per seed)."""
    from tasks.sentiment import demo_data

    out = folder / "reviews.csv"
    lines = []
    for seed in range(max(1, -(-rows // 1200))):
        path = Path(demo_data.make_data(folder / f"part{seed}", seed=seed)["data.path"])
        part = path.read_text(encoding="utf-8").splitlines(keepends=True)
        lines += part if not lines else part[1:]
    out.write_text("".join(lines), encoding="utf-8")
    return out


# ---- comparing two run folders ------------------------------------------------------------------------

def first_text_difference(a: bytes, b: bytes) -> str | None:
    """None when the two files are byte for byte equal, else where they first differ (line and both lines)."""
    if a == b:
        return None
    left, right = a.decode("utf-8", "replace").splitlines(), b.decode("utf-8", "replace").splitlines()
    for number, (x, y) in enumerate(zip(left, right), start=1):
        if x != y:
            return f"line {number}: {x[:120]!r} != {y[:120]!r}"
    if len(left) != len(right):
        return f"{len(left)} lines != {len(right)} lines"
    return "same lines, other bytes (line endings or a final newline)"


def first_json_difference(a, b, where: str = "", ignore_suffix: str = TIMING) -> str | None:
    """None when two JSON values are equal (keys ending in ``ignore_suffix`` left out; floats compared
    exactly), else the path of the first difference and both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted({*a, *b}):
            if ignore_suffix and key.endswith(ignore_suffix):
                continue
            if key not in a or key not in b:
                return f"{where}{key}: only in {'the reference' if key in a else 'the resumed run'}"
            differs = first_json_difference(a[key], b[key], f"{where}{key}.", ignore_suffix)
            if differs:
                return differs
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where.rstrip('.')}: {len(a)} items != {len(b)}"
        for index, (x, y) in enumerate(zip(a, b)):
            differs = first_json_difference(x, y, f"{where}{index}.", ignore_suffix)
            if differs:
                return differs
        return None
    if type(a) is not type(b) or a != b:
        return f"{where.rstrip('.') or 'value'}: {a!r} != {b!r}"
    return None


def first_array_difference(a: dict, b: dict) -> str | None:
    """None when two {name: numpy array} dicts hold the same names, shapes, dtypes and bits."""
    import numpy as np

    if sorted(a) != sorted(b):
        return f"names differ: {sorted(set(a) ^ set(b))[:5]}"
    for name in sorted(a):
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if x.shape != y.shape or x.dtype != y.dtype:
            return f"{name}: shape/dtype {x.shape} {x.dtype} != {y.shape} {y.dtype}"
        same = x.tolist() == y.tolist() if x.dtype.kind == "O" else x.tobytes() == y.tobytes()
        if not same:  # object arrays (strings) by value: their bytes are pointers
            if x.dtype.kind in "fc":
                gap = float(np.max(np.abs(x.astype("float64") - y.astype("float64"))))
                return f"{name}: max |difference| {gap:.3g}"
            return f"{name}: values differ"
    return None


def keras_weights(model_path: Path) -> dict:
    """Every array in model.keras's weights file, by its HDF5 path (the archive's timestamps are left out)."""
    import h5py

    arrays = {}
    with zipfile.ZipFile(model_path) as archive:
        data = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                          if isinstance(item, h5py.Dataset) else None)
    return arrays


def export_outputs(export_dir: Path) -> dict:
    """The export's serving_default outputs on `TEXTS`."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    return {name: value.numpy() for name, value in serve(text=tf.constant(TEXTS)).items()}


def leftovers(run: Path) -> list[str]:
    """Temporary files or folders a killed write left in the run folder (``.<name>.*``, ``*.partial.*``)."""
    return sorted(str(p.relative_to(run)) for p in run.rglob("*")
                  if p.name.startswith(".") or ".partial." in p.name)


def compare_runs(reference: Path, resumed: Path, reference_export=None) -> dict:
    """{artifact: first difference or None} for everything the bar names and a few more."""
    out = {}
    for name in ("history.csv", "predictions_test.csv"):
        a, b = reference / name, resumed / name
        out[name] = (f"missing in {b}" if not b.is_file()
                     else first_text_difference(a.read_bytes(), b.read_bytes()))
    try:
        out["metrics.json"] = first_json_difference(json.loads((reference / "metrics.json").read_text()),
                                                    json.loads((resumed / "metrics.json").read_text()))
    except (OSError, ValueError) as exc:
        out["metrics.json"] = f"unreadable: {exc}"
    try:
        out["model.keras weights"] = first_array_difference(keras_weights(reference / "model.keras"),
                                                            keras_weights(resumed / "model.keras"))
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        out["model.keras weights"] = f"unreadable: {exc}"
    if reference_export is not None:
        try:
            out["export outputs"] = first_array_difference(reference_export,
                                                           export_outputs(resumed / "export"))
        except Exception as exc:  # noqa: BLE001 - a damaged export fails the trial, not the check
            out["export outputs"] = f"cannot load: {type(exc).__name__}: {str(exc)[:200]}"
    return out


# ---- where a run was when it was killed ---------------------------------------------------------------

def phase_of(run: Path, epochs: int) -> str:
    """The step of `train` that the files of ``run`` show it was in (its files are written in this order:
    config.yaml and state.json, per epoch history.csv then checkpoints/backup/backup.json, at the end of the
    fit training.json and model.keras, then metrics.json and predictions, then export/)."""
    if (run / "export" / "saved_model.pb").is_file() and (run / "metrics.json").is_file():
        return "finished"
    if (run / "metrics.json").is_file():
        return "export"
    if (run / "model.keras").is_file():
        return "evaluation"
    if (run / "checkpoints" / "training.json").is_file():
        return "saving the model"
    manifest = run / "checkpoints" / "backup" / "backup.json"
    rows = _history_rows(run / "history.csv")
    if manifest.is_file():
        try:
            done = int(json.loads(manifest.read_text(encoding="utf-8"))["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            done = rows
        return f"training epoch {done + 1} ({done} backed up)" if done < epochs else "training: after the fit"
    if rows >= epochs:
        return "training: after the fit"  # the backup is removed when the fit ends
    if rows or (run / "state.json").is_file():
        return "training epoch 1 (nothing backed up)"
    return "startup"


def _history_rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text(encoding="utf-8").splitlines()) - 1)
    except OSError:
        return 0


# ---- running ------------------------------------------------------------------------------------------

def draw_moments(count: int, total: float, seed: int) -> list[float]:
    """``count`` kill moments, uniform in [0, total), from a seeded generator."""
    rng = random.Random(seed)
    return [round(rng.uniform(0.0, total), 2) for _ in range(count)]


def train_command(config: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "tasks.sentiment", "train", "--config", str(config), "--run-dir", str(run)]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def run_to_end(config: Path, run: Path, log: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with open(log, "ab") as out:
        code = subprocess.run(train_command(config, run), cwd=REPO, env=_env(), stdout=out,
                              stderr=subprocess.STDOUT).returncode
    return code, time.perf_counter() - started


def run_and_kill(config: Path, run: Path, log: Path, moment: float) -> bool:
    """Start `train` in its own process group and SIGKILL the group ``moment`` s later; False when it ended
    on its own first."""
    with open(log, "ab") as out:
        process = subprocess.Popen(train_command(config, run), cwd=REPO, env=_env(), stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(timeout=moment)
            return False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True


def trial(k: int, moments, config: Path, work: Path, reference: Path, epochs: int, reference_export) -> dict:
    """One kill and rerun in ``B_k``. ``moments`` yields kill moments: a run that ends on its own before its
    moment (it ran faster than the reference) is no kill; its folder is removed, its moment recorded in
    ``not_killed_at_s``, and the next moment is tried."""
    import shutil

    run, log = work / f"B_{k}", work / f"B_{k}.log"
    missed = []
    for moment in moments:
        if run_and_kill(config, run, log, moment):
            break
        missed.append(moment)
        shutil.rmtree(run)
    phase = phase_of(run, epochs)
    left_by_kill = leftovers(run) if run.is_dir() else []
    code, seconds = run_to_end(config, run, log)
    row = {"trial": k, "kill_at_s": moment, "phase": phase, "left_by_kill": left_by_kill,
           "not_killed_at_s": missed, "rerun_exit": code, "rerun_s": round(seconds, 1)}
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    if code != 0 and not (phase == "finished" and code == 2 and FINISHED in tail[-1]):
        row.update(differences={"rerun": f"exit {code}: {' | '.join(tail)}"}, passed=False)
        return row
    if code != 0:  # killed after its last file was in place: the rerun refuses to redo a finished run
        row["rerun_said"] = tail[-1]
    differences = compare_runs(reference, run, reference_export)
    row["differences"] = {name: value for name, value in differences.items() if value}
    row["compared"] = sorted(differences)
    row["leftovers_after_rerun"] = leftovers(run)
    row["passed"] = not row["differences"]
    return row


def markdown(doc: dict) -> str:
    from benchmarks._harness import markdown_table

    rows = [{"trial": r["trial"], "kill at (s)": r["kill_at_s"], "phase when killed": r["phase"],
             "rerun (s)": r["rerun_s"] if "rerun_said" not in r else "refused: finished",
             "result": "identical" if r["passed"] else "DIFFERS",
             "first difference": "; ".join(f"{k}: {v}" for k, v in r.get("differences", {}).items()) or "-",
             "leftovers after rerun": ", ".join(r.get("leftovers_after_rerun", [])) or "-"}
            for r in doc["trials"]]
    m, ref = doc["machine"], doc["reference"]
    passed = sum(r["passed"] for r in doc["trials"])
    lines = [
        "# Kill -9 at random moments of a sentiment run with dropout, then rerun", "",
        f"Generated by `{doc['command']}` on {m['cpu']} ({m['nproc']} CPUs), TensorFlow "
        f"{m['tensorflow']}.",
        "",
        f"Config: the demo sentiment model (BiGRU 32, attention pooling) with embedding dropout 0.2, GRU "
        f"input dropout 0.2 and recurrent dropout 0.2, classifier dropout 0.3, {doc['epochs']} epochs, no "
        f"early stopping, on {doc['rows']} synthetic reviews (seed {doc['config_seed']}). The reference run "
        f"took {ref['seconds']:.1f} s. Each trial starts the same `train` command into a fresh run folder, "
        "sends SIGKILL to its process group at a moment drawn uniformly over the reference's wall time "
        "(seeded), then reruns the command to completion and compares the folder with the reference: "
        "history.csv and predictions_test.csv byte for byte, metrics.json without `*_seconds`, the weights "
        "in model.keras bit for bit, and the export's outputs on five texts bit for bit.", "",
        f"**{passed} of {len(doc['trials'])} trials identical.**"
        + (f" Moments at which the run had already ended on its own (no kill; the next moment was used): "
           f"{', '.join(f'{m} s' for r in doc['trials'] for m in r['not_killed_at_s'])}." if any(
               r["not_killed_at_s"] for r in doc["trials"]) else ""), "",
        markdown_table(rows, list(rows[0]) if rows else []), ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument("--config-seed", type=int, default=7, help="The run's own seed (config `seed`).")
    parser.add_argument("--rows", type=int, default=2400, help="Synthetic reviews in the dataset.")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--work", default=str(WORK), help="Scratch folder (emptied first).")
    parser.add_argument("--json", default="benchmarks/results/kill_resume.json")
    parser.add_argument("--md", default="benchmarks/results/kill_resume.md")
    args = parser.parse_args(argv)

    import shutil

    from benchmarks._harness import command, machine, write_json, write_text

    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = make_data(work / "data", args.rows)
    config = work / "config.yaml"
    config.write_text(config_text(str(data), args.epochs, args.config_seed), encoding="utf-8")
    reference = work / "A"
    # warm the file cache (TensorFlow's libraries): a cold first start would stretch the reference's wall
    # time, and with it the moments drawn over it, past the end of the trials' runs
    subprocess.run([sys.executable, "-c", "import tasks.sentiment.task"], cwd=REPO, env=_env(), check=True)
    code, seconds = run_to_end(config, reference, work / "A.log")
    if code != 0:
        raise SystemExit(f"the reference run failed (exit {code}); see {work / 'A.log'}")
    print(f"reference: {seconds:.1f} s", flush=True)
    reference_export = export_outputs(reference / "export")
    moments = iter(draw_moments(3 * args.trials, seconds, args.seed))  # spares for runs that end first
    trials = []
    for k in range(1, args.trials + 1):
        row = trial(k, moments, config, work, reference, args.epochs, reference_export)
        trials.append(row)
        print(f"trial {k}: killed at {row['kill_at_s']:.2f} s in {row['phase']}: "
              f"{'identical' if row['passed'] else row['differences']}", flush=True)
    doc = {"command": command("benchmarks.kill_resume", argv), "machine": machine(), "rows": args.rows,
           "epochs": args.epochs, "config_seed": args.config_seed, "moment_seed": args.seed,
           "reference": {"seconds": round(seconds, 1),
                         "history_rows": _history_rows(reference / "history.csv")},
           "passed": sum(r["passed"] for r in trials), "trials": trials}
    write_json(args.json, doc)
    write_text(args.md, markdown(doc))
    return doc


if __name__ == "__main__":
    main()
