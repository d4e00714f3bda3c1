"""The bad-input corpus (issue #13): malformed files, configs and command lines through the real CLI.

Every case is data in ``tests/bad_inputs/`` (``base.yaml``: each task's small config and data;
``<task>.yaml``: that task's cases; ``common.yaml``: config and command-line cases of the shared
machinery). For every case this module asserts what a user sees:

* the exit status (2 unless the case says otherwise; a positive case says 0);
* exactly one ``error:`` line on stderr, holding every word the case lists (file, line, fix),
  and no ``Traceback``;
* nothing left behind: the case's folder holds exactly what it held before (no ``runs/`` folder
  from a failed ``train``, no half-written ``--output``, no temporary files, a damaged run folder
  unchanged).

Speed: the cases run in ONE Python process that calls ``common.cli.main(TASK, argv)`` in a loop
(each in its own working folder, stderr captured), after training one tiny run per task (the
module fixture) that the run cases (damaged ``metrics.json``/``state.json``, no ``export/``...)
copy. Cases marked ``cli: true`` run as separate ``python -m tasks.<task>`` processes, so the real
entry points and their stderr are checked too.

The HTTP request side of the corpus (malformed JSON bodies, wrong instance shapes, oversized or
truncated bodies, bad Content-Length, unknown model names, too many connections) is covered by
``tests/common/test_serving.py`` and is not repeated here.

Adding a case: append an entry to the task's YAML file (see ``tests/bad_inputs/README.md`` for the
keys). Adding a task (e.g. ``parity``): give it a section in ``base.yaml`` and a
``tests/bad_inputs/parity.yaml``; nothing here changes.
"""
from __future__ import annotations

import base64
import copy
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
CASE_KEYS = {"id", "kind", "task", "files", "config", "config_text", "set", "argv", "run", "exit", "error",
             "outputs", "stdout", "cli", "slow", "note", "damage", "argparse", "xfail"}
KINDS = {"config", "cli", "data", "run", "predict", "positive"}


# ---- the corpus ---------------------------------------------------------------------------------
def load_base() -> dict:
    return yaml.safe_load((CORPUS / "base.yaml").read_text(encoding="utf-8"))


def load_cases() -> list[dict]:
    """Every case of every corpus file, with ``id`` made unique as ``<file>/<id>``."""
    base = load_base()
    cases = []
    for path in sorted(CORPUS.glob("*.yaml")):
        if path.name == "base.yaml":
            continue
        for case in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            case = dict(case)
            unknown = set(case) - CASE_KEYS
            assert not unknown, f"{path.name}: case {case.get('id')}: unknown keys {unknown}"
            case.setdefault("task", path.stem)
            assert case["task"] in base, f"{path.name}: case {case['id']}: no base for task {case['task']}"
            assert case.get("kind") in KINDS, f"{path.name}: case {case['id']}: kind must be one of {KINDS}"
            assert not (case.get("cli") and case.get("run")), f"{case['id']}: a cli case cannot use a run"
            case["id"] = f"{path.stem}/{case['id']}"
            cases.append(case)
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


# ---- writing a case's files ---------------------------------------------------------------------
def _series(rows=80, start="2024-01-01", columns=("y", "x"), time="time", freq_hours=1):
    import datetime as dt

    t0 = dt.datetime.fromisoformat(start)
    lines = [",".join([time, *columns])]
    for i in range(rows):
        stamp = (t0 + dt.timedelta(hours=i * freq_hours)).strftime("%Y-%m-%d %H:%M:%S")
        values = [f"{(i % 7) + 0.5 * j + 0.25 * (i % 3):.2f}" for j in range(len(columns))]
        lines.append(",".join([stamp, *values]))
    return lines


_GOOD = ["great", "wonderful", "superb", "charming", "brilliant"]
_BAD = ["boring", "awful", "dull", "tedious", "bland"]


def _reviews(per_label=20, labels=("pos", "neg"), header=("text", "label")):
    lines = [",".join(header)]
    for i in range(per_label):
        for k, label in enumerate(labels):
            words = _GOOD if k % 2 == 0 else _BAD
            lines.append(f"the film was {words[i % 5]} and the plot was {words[(i + k) % 5]},{label}")
    return lines


def _conll(sentences=24, types=("PER", "LOC")):
    names = {"PER": ["John", "Maria", "Ahmed", "Olga"], "LOC": ["Paris", "Lima", "Oslo", "Cairo"],
             "ORG": ["Acme", "Globex", "Initech", "Cyberdyne"],
             "MISC": ["French", "Irish", "Olympic", "Dutch"]}
    lines = ["-DOCSTART- -X- -X- O", ""]
    for i in range(sentences):
        kind = types[i % len(types)]
        name = names[kind][i % 4]
        lines += [f"{name} NNP B-NP B-{kind}", "was VBD B-VP O", "seen VBN I-VP O", ". . O O", ""]
    return lines


def _pairs(n=40):
    nouns = [("dog", "hund"), ("cat", "katze"), ("man", "mann"), ("child", "kind"), ("bird", "vogel")]
    verbs = [("sees", "sieht"), ("likes", "mag"), ("finds", "findet")]
    lines = []
    for i in range(n):
        (a, a2), (b, b2), (v, v2) = nouns[i % 5], nouns[(i // 5) % 5], verbs[i % 3]
        lines.append(f"The {a} {v} the {b}.\tDer {a2} der {b2} {v2}.")
    return lines


GENERATORS = {"series": _series, "reviews": _reviews, "conll": _conll, "pairs": _pairs}


def render_file(spec) -> bytes:
    """A file's bytes from its corpus spec: text as is, ``!!binary`` bytes, or a generator mapping.

    Mapping keys: ``generate`` (series | reviews | conll | pairs, with its arguments), ``lines``
    (literal lines instead), ``replace`` ({line number: new text}, 1-based), ``insert`` ({line number:
    text} inserted before that line), ``drop`` ([line numbers]), ``append`` ([lines]), ``encoding``,
    ``bom``, ``crlf``, ``gzip``, ``raw_tail`` (bytes appended as is)."""
    if isinstance(spec, bytes):
        return spec
    if isinstance(spec, str):
        return spec.encode("utf-8")
    spec = dict(spec)
    if "generate" in spec:
        args = {k: v for k, v in spec.items() if k not in RENDER_KEYS}
        lines = GENERATORS[spec["generate"]](**args)
    else:
        lines = list(spec.get("lines", []))
    for number in sorted(spec.get("drop", []), reverse=True):
        del lines[number - 1]
    for number, text in (spec.get("replace") or {}).items():
        lines[int(number) - 1] = text
    for number, text in sorted((spec.get("insert") or {}).items(), reverse=True):
        lines.insert(int(number) - 1, text)
    lines += list(spec.get("append", []))
    newline = "\r\n" if spec.get("crlf") else "\n"
    text = newline.join(lines) + (newline if lines else "")
    data = text.encode(spec.get("encoding", "utf-8"))
    if spec.get("bom"):
        data = b"\xef\xbb\xbf" + data
    if "raw_tail" in spec:
        tail = spec["raw_tail"]
        data += tail if isinstance(tail, bytes) else base64.b64decode(tail)
    if spec.get("gzip"):
        data = gzip.compress(data, mtime=0)
    return data


RENDER_KEYS = {"generate", "lines", "replace", "insert", "drop", "append", "encoding", "bom", "crlf", "gzip",
               "raw_tail"}


def _merge(into: dict, overlay: dict) -> dict:
    for key, value in overlay.items():
        if value == "__delete__":
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def _fill(value, here: Path):
    if isinstance(value, str):
        return value.replace("{here}", str(here))
    if isinstance(value, list):
        return [_fill(v, here) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, here) for k, v in value.items()}
    return value


def write_case(case: dict, base: dict, folder: Path) -> list[str]:
    """Write the case's config and files into ``folder``; return its argv."""
    task_base = base[case["task"]]
    folder.mkdir(parents=True)
    files = {**task_base.get("files", {}), **(case.get("files") or {})}
    for name, spec in files.items():
        if spec is None:  # a base file the case removes
            continue
        path = folder / name
        if isinstance(spec, dict) and spec.get("folder"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_file(spec))
    if "config_text" in case:
        text = case["config_text"]
        (folder / "config.yaml").write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    elif case.get("config") != "__none__":
        config = _merge(copy.deepcopy(task_base["config"]), case.get("config") or {})
        (folder / "config.yaml").write_text(yaml.safe_dump(_fill(config, folder), sort_keys=False),
                                            encoding="utf-8")
    argv = case.get("argv") or ["train", "--config", "config.yaml"]
    argv = [a.replace("{run}", "run") for a in argv]
    for item in case.get("set") or []:
        argv += ["--set", item]
    return argv


def listing(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` (relative, hidden ones too) with its size (-1 for folders)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        out[path.relative_to(folder).as_posix()] = -1 if path.is_dir() else path.stat().st_size
    return out


# ---- the in-process runner (python tests/test_bad_inputs.py JOBS.json RESULTS.json) --------------
def damage_run(run: Path, steps: list[dict], fixture_runs: dict | None = None) -> None:
    for step in steps or []:
        if "truncate" in step:
            path = run / step["truncate"]
            path.write_bytes(path.read_bytes()[: step.get("bytes", 20)])
        elif "remove" in step:
            path = run / step["remove"]
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        elif "write" in step:
            (run / step["write"]).write_text(step["text"], encoding="utf-8")
        elif "mkdir" in step:  # a folder where a file belongs (after a remove step), or a stale temporary
            (run / step["mkdir"]).mkdir(parents=True)
        elif "copy" in step:  # a foreign artifact: `{copy: export, from: sentiment}` (another task's run)
            source = Path(fixture_runs[f"fixture/{step['from']}"]) / step["copy"]
            (shutil.copytree if source.is_dir() else shutil.copyfile)(source, run / step["copy"])
        else:
            raise ValueError(f"unknown damage step {step}")


def _run_in_process(task_name: str, argv: list[str], cwd: Path) -> dict:
    import contextlib
    import importlib
    import io
    import traceback

    from common import cli

    out, err = io.StringIO(), io.StringIO()
    code, started = 0, time.time()
    os.chdir(cwd)
    try:
        task = importlib.import_module(f"tasks.{task_name}").TASK
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(task, argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001 - what the user would see: a traceback, status 1
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(REPO)
    return {"exit": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "seconds": round(time.time() - started, 2)}


def runner_main(jobs_path: str, results_path: str) -> None:
    """Train the fixture runs, then every case; write what each produced as JSON."""
    jobs = json.loads(Path(jobs_path).read_text())
    results = {}
    for job in jobs["fixtures"] + jobs["cases"]:
        cwd = Path(job["cwd"])
        before = None
        if job.get("run_from"):
            run = cwd / "run"
            fixture = results.get(job["run_from"])
            if fixture is None or fixture["exit"] != 0:
                results[job["id"]] = {"exit": None, "stderr": f"fixture run {job['run_from']} failed",
                                      "stdout": "", "seconds": 0}
                continue
            shutil.copytree(Path(jobs["fixture_runs"][job["run_from"]]), run)
            damage_run(run, job.get("damage"), jobs["fixture_runs"])
            before = listing(cwd)
        result = _run_in_process(job["task"], job["argv"], cwd)
        if before is not None:
            result["before"] = before
        results[job["id"]] = result
        Path(results_path).write_text(json.dumps(results))


# ---- pytest side --------------------------------------------------------------------------------
CASES = load_cases()


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RNNSUITE_DATA"}
    env.update(PYTHONPATH=str(REPO), RNNSUITE_CACHE=str(tmp / "cache"), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONDONTWRITEBYTECODE="1", CUDA_VISIBLE_DEVICES="")
    return env


@pytest.fixture(scope="module")
def corpus_results(tmp_path_factory, request):
    """Write every case, run them (one process for in-process cases, one per cli case), collect results."""
    tmp = tmp_path_factory.mktemp("bad_inputs")
    base = load_base()
    params = [item.callspec.params for item in request.session.items
              if item.module is request.module and getattr(item, "callspec", None)]
    cases = [p["case"] for p in params if "case" in p] if params else CASES
    trained = ({c["run"] if isinstance(c["run"], str) else c["task"] for c in cases if c.get("run")}
               | {step["from"] for c in cases for step in c.get("damage") or [] if "copy" in step}
               | {p["task"] for p in params if "task" in p})
    fixtures, fixture_runs, jobs, cli_jobs, setup = [], {}, [], [], {}
    for task in sorted(trained):
        folder = tmp / "fixtures" / task
        fixture = {"task": task, **base[task].get("fixture", {}),
                   "argv": ["train", "--config", "config.yaml", "--run-dir", "run"]}
        argv = write_case(fixture, base, folder)
        fixtures.append({"id": f"fixture/{task}", "task": task, "cwd": str(folder), "argv": argv})
        fixture_runs[f"fixture/{task}"] = str(folder / "run")
    for i, case in enumerate(cases):
        folder = tmp / "cases" / f"{i:03d}"
        argv = write_case(case, base, folder)
        setup[case["id"]] = (folder, listing(folder))
        job = {"id": case["id"], "task": case["task"], "cwd": str(folder), "argv": argv}
        if case.get("run"):
            source = case["run"] if isinstance(case["run"], str) else case["task"]
            job.update(run_from=f"fixture/{source}", damage=case.get("damage"))
        (cli_jobs if case.get("cli") else jobs).append(job)
    env = _env(tmp)
    jobs_path, results_path = tmp / "jobs.json", tmp / "results.json"
    jobs_path.write_text(json.dumps({"fixtures": fixtures, "cases": jobs, "fixture_runs": fixture_runs}))
    started = time.time()
    procs = {job["id"]: subprocess.Popen([sys.executable, "-m", f"tasks.{job['task']}", *job["argv"]],
                                         cwd=job["cwd"], env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
             for job in cli_jobs}
    command = [sys.executable, str(Path(__file__).resolve()), str(jobs_path), str(results_path)]
    runner = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=900)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for job_id, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[job_id] = {"exit": proc.returncode, "stdout": stdout, "stderr": stderr}
    results["__runner__"] = {"exit": runner.returncode, "stderr": runner.stderr[-3000:],
                             "seconds": round(time.time() - started, 1)}
    return {"results": results, "setup": setup,
            "fixture_folders": {task: tmp / "fixtures" / task for task in trained}}


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _marks(case):
    marks = [pytest.mark.slow] if case.get("slow") else []
    if case.get("xfail"):  # a known gap whose fix lies outside the corpus; strict: a fix must drop the mark
        marks.append(pytest.mark.xfail(reason=case["xfail"], strict=True))
    return marks


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"], marks=_marks(c)) for c in CASES])
def test_bad_input(case, corpus_results):
    results = corpus_results["results"]
    result = results.get(case["id"])
    runner = results["__runner__"]
    assert result is not None, f"the case did not run; runner exit {runner['exit']}: {runner['stderr']}"
    assert result["exit"] is not None, result["stderr"]
    stderr = result["stderr"]
    shown = f"\n--- stderr ---\n{stderr[-3000:]}\n--- stdout ---\n{result['stdout'][-1500:]}"
    assert "Traceback" not in stderr, shown
    expected_exit = case.get("exit", 2)
    assert result["exit"] == expected_exit, shown
    folder, before = corpus_results["setup"][case["id"]]
    before = result.get("before", before)
    after = listing(folder)
    if expected_exit == 0:
        assert not _error_lines(stderr), shown
        for name in case.get("outputs") or []:
            assert (folder / name).exists(), f"{name} was not written{shown}"
        for word in case.get("stdout") or []:
            assert word in result["stdout"], f"{word!r} not in stdout{shown}"
        return
    errors = _error_lines(stderr)
    if case.get("argparse"):
        errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, f"expected exactly one 'error:' line{shown}"
    for word in case.get("error") or []:
        assert str(word).replace("{here}", str(folder)) in errors[0], f"{word!r} not in the message{shown}"
    new = sorted(set(after) - set(before))
    gone = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p] and before[p] >= 0)
    assert not (new or gone or changed), (f"files left behind: new {new}, removed {gone}, changed {changed}"
                                          f"{shown}")


@pytest.mark.parametrize("task", sorted(load_base()))
def test_fixture_run_trains_on_bom_and_crlf_files(task, corpus_results):
    """Positive case: each task's tiny fixture run trains on data files with a UTF-8 BOM and CRLF endings."""
    result = corpus_results["results"][f"fixture/{task}"]
    shown = f"\n--- stderr ---\n{result['stderr'][-3000:]}\n--- stdout ---\n{result['stdout'][-1500:]}"
    assert result["exit"] == 0 and "Traceback" not in result["stderr"], shown
    run = corpus_results["fixture_folders"][task] / "run"
    assert (run / "export" / "saved_model.pb").exists() and (run / "metrics.json").exists(), shown


def test_corpus_size():
    """Issue #34's floor: at least 400 cases (issue #13's was 80), covering every task."""
    fast = [c for c in CASES if not c.get("slow")]
    assert len(CASES) >= 400 and len(fast) >= 380
    assert {"forecasting", "sentiment", "ner", "translation", "language_model"} <= {c["task"] for c in CASES}


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    runner_main(sys.argv[1], sys.argv[2])
