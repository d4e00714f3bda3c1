"""Mutation testing with mutmut 3 over a list of modules, each against the tests that guard it.

Run through scripts/mutation.sh (which installs mutmut on demand). For every module spec
(``path.py`` or ``path.py:function,function``) this:

1. copies the working tree (tracked and untracked, not ignored files) into ``.mutation/<slug>/``
   (gitignored), so the checkout is never touched; mutmut then writes its mutated copies under
   ``.mutation/<slug>/mutants/``;
2. writes a ``[tool.mutmut]`` section into that copy's pyproject.toml: the module to mutate and the
   test files that guard it (``GUARDS`` below, else the mirrored ``tests/.../test_<name>.py``);
3. runs ``mutmut run`` once with a pattern that matches no mutant (this makes the mutants and
   collects which test covers which function), picks the mutants (those of the named functions;
   ``--sample N`` keeps a random N) and runs them against the unit tests; then, for an export, runs
   the conformance check (which exercises the module in a training subprocess that mutmut's coverage
   cannot see) with each mutant the unit tests left alive, switched on through ``MUTANT_UNDER_TEST``;
4. writes ``.mutation/<slug>.json`` (counts and every survivor's diff) and prints a Markdown row;
   ``.mutation/summary.md`` collects the rows of every module run so far.

Statuses follow mutmut: killed, survived, no tests (no selected test calls the function: counted
as survived), timeout (counted as killed, as mutmut's badge does), skipped / not checked
(left out of the score). Score = (killed + timeout) / (killed + timeout + survived + no tests); "score (tested)" leaves out
the mutants that no selected test reaches.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"

# The test files that guard a module whose guard is not (only) the mirrored tests/.../test_<name>.py.
GUARDS: dict[str, list] = {
    "common/serving.py": ["tests/common/test_serving.py"],
    "tasks/sentiment/dataset.py": ["tests/tasks/sentiment/test_dataset.py"],
    "tasks/forecasting/data.py": ["tests/tasks/forecasting/test_data.py"],
    "tasks/language_model/data.py": ["tests/tasks/language_model/test_data.py"],
    "tasks/translation/data.py": ["tests/tasks/translation/test_data.py"],
}
# The conformance checks of an export: the served outputs against the Keras model plus the task's own
# pre- and postprocessing, and `predict` on a user file through the export. They share one trained demo
# model per pytest process (about a minute on 2 cores, training included), so an export's mutants are
# costly; they run in a subprocess that mutmut cannot see, so this script runs them itself.
CONFORMANCE = ("tests/tasks/test_conformance.py",
               "{task} and (without_the_serving_graph or predict_reads_a_user_file)")


def mirrored_tests(module: str) -> list[str]:
    path = Path(module)
    test = Path("tests") / path.parent / f"test_{path.name}"
    return [str(test)] if (ROOT / test).exists() else []


def guards(module: str, conformance: bool) -> tuple[list[str], list[str]]:
    """(test files for mutmut's coverage-based selection, the conformance node ids an export's mutants
    also run when the unit tests leave them alive)."""
    files = list(GUARDS.get(module) or mirrored_tests(module))
    extra: list[str] = []
    m = re.fullmatch(r"tasks/(\w+)/export\.py", module)
    if m and conformance:
        file, expr = CONFORMANCE
        extra = collect(file, expr.format(task=m.group(1)))
    if not files and not extra:
        sys.exit(f"{module}: no test guards it (add it to GUARDS in {Path(__file__).name})")
    return files, extra


def collect(file: str, expr: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", file, "-k", expr],
                         cwd=ROOT, capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    ids = [line for line in out.stdout.splitlines() if "::" in line]
    if not ids:
        sys.exit(f"no test in {file} matches -k {expr!r}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return ids


def copy_tree(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


PROBE = '''"""Written by scripts/mutation_run.py into its copy only: a fast in-process test for mutmut's stats
and forced-failure runs when a module's only guard is a check that runs it in a subprocess (there,
mutmut's stats trampoline cannot find its config)."""
import importlib
import inspect


def test_probe():
    module = importlib.import_module("{module}")
    first = next(f for f in vars(module).values() if inspect.isfunction(f) and f.__module__ == module.__name__)
    try:
        first()  # mutmut's "fail" mode raises before the call; otherwise the missing arguments do
    except TypeError:
        pass
'''


def write_probe(copy: Path, module: str) -> str:
    path = copy / "tests" / "test_mutation_probe.py"
    path.write_text(PROBE.format(module=module[:-3].replace("/", ".")))
    return str(path.relative_to(copy))


def toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(str(i)) for i in items) + "]"


def configure(copy: Path, module: str, tests: list[str], isolation: str) -> None:
    text = (copy / "pyproject.toml").read_text()
    text = re.sub(r"\n\[tool\.mutmut\][^\[]*", "\n", text)
    text += (
        "\n[tool.mutmut]\n"
        f"source_paths = {toml_list([module])}\n"
        f"also_copy = {toml_list(['common', 'tasks', 'benchmarks', 'configs', 'scripts'])}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\", \"-p\", \"no:xdist\", \"-q\"]\n"
        f"process_isolation = \"{isolation}\"\n"
        "use_git_change_detection = false\n"
    )
    (copy / "pyproject.toml").write_text(text)


def mutmut(copy: Path, *args: str, log: Path, timeout: float | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    with log.open("a") as f:
        f.write(f"\n$ mutmut {' '.join(args)}\n")
        f.flush()
        proc = subprocess.Popen([sys.executable, "-m", "mutmut", *args], cwd=copy, stdout=f,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # stop mutmut and the workers it forked
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            f.write("\n(stopped: --budget reached)\n")
            return 124


def meta_path(copy: Path, module: str) -> Path:
    return copy / "mutants" / f"{module}.meta"


def mangled_prefix(module: str, function: str) -> str:
    dotted = module[:-3].replace("/", ".")
    if "." in function:  # Class.method
        cls, method = function.split(".", 1)
        return f"{dotted}.x\u01c1{cls}\u01c1{method}__mutmut_"
    return f"{dotted}.x_{function}__mutmut_"


def conformance(copy: Path, module: str, names: list[str], extra: list[str], args, deadline) -> None:
    """Run ``extra`` (node ids) with each mutant that the unit tests did not kill switched on through
    ``MUTANT_UNDER_TEST`` (inherited by the training subprocess); record mutmut's exit codes in its meta
    file (1 killed, 0 survived, 36 timeout) so `mutmut show` / `results` and the summary see them."""
    meta = meta_path(copy, module)
    mutants = copy / "mutants"
    env = {**os.environ, "PYTHONPATH": str(mutants), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    for name in names:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes.get(name) in (1, 3, 36, -24, 24, 152, 255):
            continue  # already killed (or timed out) by the unit tests
        left = None if deadline is None else deadline - time.time()
        if left is not None and left <= 0:
            break
        limit = 4 * args.conformance_seconds if left is None else min(4 * args.conformance_seconds, left)
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *extra],
                                cwd=mutants, env={**env, "MUTANT_UNDER_TEST": name}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            code = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if left is not None and limit >= left:
                break  # out of budget: leave it unchecked
            code = 36
        data = json.loads(meta.read_text())
        data["exit_code_by_key"][name] = {0: 0, 1: 1}.get(code, code if code == 36 else 1)
        meta.write_text(json.dumps(data, indent=4))
        print(f"   {name}: {'survived' if code == 0 else 'timeout' if code == 36 else 'killed'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="+", help="path.py or path.py:function[,function]")
    parser.add_argument("--sample", type=int, default=0, help="run a random N of the module's mutants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutmut workers")
    parser.add_argument("--no-conformance", action="store_true",
                        help="for tasks/*/export.py run only the unit tests, not the conformance check")
    parser.add_argument("--conformance-seconds", type=float, default=120.0,
                        help="expected time of one conformance check; a mutant's run is stopped (timeout) at 4x")
    parser.add_argument("--budget", type=float, default=0, help="stop a module's run after this many seconds")
    parser.add_argument("--resume", action="store_true",
                        help="go on with a module's earlier run in .mutation/ (mutants with a result are kept)")
    parser.add_argument("--isolation", default="auto", choices=["auto", "fork", "forkserver"],
                        help="mutmut's process_isolation; auto: forkserver for tasks/*/export.py (their tests run "
                             "TensorFlow graphs in the stats run, and a worker forked from that process hangs), "
                             "fork (faster) otherwise")
    args = parser.parse_args()

    WORK.mkdir(exist_ok=True)
    rows = []
    for spec in args.modules:
        module, _, functions = spec.partition(":")
        functions = [f for f in functions.split(",") if f]
        if not (ROOT / module).is_file():
            sys.exit(f"{module}: no such file")
        files, extra = guards(module, not args.no_conformance)
        slug = re.sub(r"[^\w]+", "_", spec.replace(".py", "")).strip("_")
        if re.fullmatch(r"tasks/\w+/export\.py", module):
            slug += "_unit" if args.no_conformance else "_conformance"
        if args.sample:
            slug += f"_sample{args.sample}"
        copy, log = WORK / slug, WORK / f"{slug}.log"
        print(f"== {spec}: tests {files + extra}", flush=True)
        meta = meta_path(copy, module)
        started = time.time()
        if not (args.resume and meta.exists()):
            log.write_text("")
            copy_tree(copy)
            isolation = args.isolation
            if isolation == "auto":
                isolation = "forkserver" if re.fullmatch(r"tasks/\w+/export\.py", module) else "fork"
            selection = files or [write_probe(copy, module)]  # an empty list would run every test
            configure(copy, module, selection, isolation)
            # 1. make the mutants and collect the coverage stats, running no mutant
            mutmut(copy, "run", "no_mutant_matches_this*", log=log)
            if not meta.exists():
                sys.exit(f"{spec}: mutmut made no mutants (see {log.relative_to(ROOT)})")
        names = sorted(json.loads(meta.read_text())["exit_code_by_key"],
                       key=lambda n: (n.rsplit("__mutmut_", 1)[0], int(n.rsplit("_", 1)[1])))
        if functions:
            prefixes = tuple(mangled_prefix(module, f) for f in functions)
            names = [n for n in names if n.startswith(prefixes)]
        total = len(names)
        if args.sample and args.sample < len(names):
            names = sorted(random.Random(args.seed).sample(names, args.sample))
        # 2. run the chosen mutants that have no result yet (mutmut reruns any mutant it is given by name)
        done = json.loads(meta.read_text())["exit_code_by_key"]
        pending = [n for n in names if done.get(n) is None]
        budget = args.budget or None
        for i in range(0, len(pending), 200):
            left = None if budget is None else budget - (time.time() - started)
            if left is not None and left <= 0:
                break
            mutmut(copy, "run", "--max-children", str(args.max_children), *pending[i:i + 200], log=log, timeout=left)
        if extra:  # 3. the subprocess-based check, run here per mutant (mutmut's runner prunes tests it did not see)
            conformance(copy, module, names, extra, args, None if budget is None else started + budget)
        rows.append(summarise(copy, module, spec, names, total, time.time() - started, files + extra, args))
    write_summary(rows)


def summarise(copy, module, spec, names, total, seconds, tests, args) -> dict:
    from mutmut.stats import status_by_exit_code

    codes = json.loads(meta_path(copy, module).read_text())["exit_code_by_key"]
    counts: dict[str, int] = {}
    survivors = []
    for name in names:
        status = status_by_exit_code[codes.get(name)]
        counts[status] = counts.get(status, 0) + 1
        if status == "survived":
            diff = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=copy, capture_output=True,
                                  text=True, check=False).stdout
            survivors.append({"name": name, "status": status, "diff": diff})
        elif status == "no tests":  # listed by name only (`mutmut show NAME` in the copy prints the diff)
            survivors.append({"name": name, "status": status})
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    survived = counts.get("survived", 0) + counts.get("no tests", 0)
    result = {
        "module": spec + (f" (sample of {len(names)})" if args.sample and args.sample < total else "")
        + (" (unit tests only)" if "export.py" in spec and args.no_conformance else ""), "tests": tests, "mutants_in_scope": total, "run": len(names),
        "sampled": bool(args.sample and args.sample < total), "seconds": round(seconds),
        "counts": counts, "killed": killed, "survived": survived,
        "score": round(100 * killed / (killed + survived), 1) if killed + survived else None,
        "survivors": survivors,
    }
    (WORK / f"{copy.name}.json").write_text(json.dumps(result, indent=2))
    print(row(result), flush=True)
    for s in survivors:
        print(f"--- {s['status']}: {s['name']}\n{s.get('diff', '')}")
    return result


def row(r: dict) -> str:
    c = r["counts"]
    killed = c.get("killed", 0) + c.get("timeout", 0)
    other = sum(v for k, v in c.items() if k not in ("killed", "timeout", "survived", "no tests"))
    scope = f"{r['run']} of {r['mutants_in_scope']}" if r["sampled"] else str(r["run"])
    score = "n/a" if r["score"] is None else f"{r['score']:.1f}%"
    covered = killed + c.get("survived", 0)
    covered_score = f"{100 * killed / covered:.1f}%" if covered else "n/a"
    return (f"| `{r['module']}` | {scope} | {c.get('killed', 0)} | {c.get('timeout', 0)} | {c.get('survived', 0)} "
            f"| {c.get('no tests', 0)} | {other} | {score} | {covered_score} | {r['seconds']} s |")


def write_summary(rows: list[dict]) -> None:
    path = WORK / "summary.md"
    header = ("| module | mutants | killed | timeout | survived | no test | not run | score | score (tested) | time |\n"
              "|---|---|---|---|---|---|---|---|---|---|\n")
    old = path.read_text().splitlines()[2:] if path.exists() else []
    mine = {r["module"] for r in rows}
    kept = [line for line in old if line.split("|")[1].strip().strip("`") not in mine]
    path.write_text(header + "\n".join(kept + [row(r) for r in rows]) + "\n")
    print(f"\nsummary: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
