"""Run the code blocks of a Markdown page as a reader would, so no documented command can silently break.

Every fenced ``bash``/``sh`` and ``python`` block of a listed page is found in order. `check_block` checks
cheaply that each would run (the command exists; a task's command line parses with that task's own
parser and its ``--set`` keys are config keys; Python compiles, imports what the suite ships, and passes
``set=`` keys that exist). `run_page` runs them all, in order, in a fresh folder that links to the
checkout, with the test settings below (one epoch instead of the page's training length).

A comment just before a block changes how it runs:

    <!-- docs-test: server -->   a long-running server: started in the background, waited for until
                                 its port answers, stopped when the page is done
    <!-- docs-test: skip WHY --> not run (say why, e.g. it needs a cluster)

To cover another page, add it to ``DOCUMENTS`` (and mark its blocks that cannot run here).
"""
from __future__ import annotations

import ast
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "docs/getting-started.md"]
FENCE = re.compile(r"(?:<!-- docs-test: (?P<mark>[^>]*?) -->\n)?^```(?P<lang>bash|sh|python)\n"
                   r"(?P<code>.*?)^```", re.S | re.M)
# What a block may run besides `python -m ...` and `bash scripts/...`: ordinary shell tools.
SHELL_TOOLS = {"cp", "printf", "echo", "cat", "curl", "mkdir", "source", "ls", "head"}
# The checkout's entries a page's commands use, linked into the folder the page runs in.
LINKED = ["scripts", "configs", "tasks", "common", "benchmarks", ".venv", "requirements.txt"]
DOC_PORT = "8501"


@dataclass
class Block:
    document: str
    line: int
    lang: str
    code: str
    mark: str

    def __str__(self):
        return f"{self.document}:{self.line}"


def blocks(document: str, text: str | None = None) -> list[Block]:
    text = (ROOT / document).read_text(encoding="utf-8") if text is None else text
    return [Block(document, text.count("\n", 0, m.start("code")) + 1, m["lang"], m["code"],
                  (m["mark"] or "").strip()) for m in FENCE.finditer(text)]


def commands(code: str) -> list[str]:
    """The shell commands of a block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    return [line.split(" #")[0].strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def for_test(command: str, port: int | None = None) -> str:
    """``command`` as the test runs it: training one epoch (a tuning run two one-epoch trials), the
    demo one epoch per task, and the documented port replaced by a free one."""
    if re.match(r"bash scripts/demo\.sh\b", command):
        command += " --epochs 1"
    match = re.match(r"python -m tasks\.\w+ (train|tune)\b", command)
    if match:
        extra = " --set train.epochs=1"
        if match[1] == "tune":
            extra += " --set tuner.max_trials=2 --set tuner.epochs=1"
        command = _before_redirect(command, extra)
    if port is not None:
        command = command.replace(DOC_PORT, str(port))
    return command


def _before_redirect(command: str, extra: str) -> str:
    head, sep, tail = command.partition(" > ")
    return head + extra + (sep + tail if sep else "")


def check_block(block: Block) -> None:
    """Raise AssertionError naming the block when a command of it could not run."""
    if block.mark.startswith("skip"):
        assert block.mark[4:].strip(), f"{block}: say why the block is skipped"
        return
    assert block.mark in ("", "server"), f"{block}: unknown docs-test mark {block.mark!r}"
    if block.lang == "python":
        _check_python(block)
        return
    for command in commands(block.code):
        words = shlex.split(command.partition(" > ")[0])
        if words[:2] == ["python", "-m"] and words[2].startswith("tasks.") and words[2] != "tasks.demo":
            _check_task_command(block, words[2].split(".", 1)[1], words[3:])
        elif words[:2] == ["python", "-m"]:
            assert (ROOT / (words[2].replace(".", "/") + ".py")).is_file(), f"{block}: no module {words[2]}"
        elif words[0] == "bash":
            assert (ROOT / words[1]).is_file(), f"{block}: no script {words[1]}"
        else:
            assert words[0] in SHELL_TOOLS, f"{block}: the harness does not know {words[0]!r}"


def _check_task_command(block: Block, name: str, argv: list[str]) -> None:
    from common import lifecycle, registry
    from common.cli import build_parser

    assert name in registry.TASK_MODULES, f"{block}: no task {name!r}"
    task = registry.get_task(name)
    try:
        args = build_parser(task).parse_args(argv)
    except SystemExit:
        raise AssertionError(f"{block}: python -m tasks.{name} {' '.join(argv)} does not parse") from None
    if getattr(args, "overrides", None) is not None or getattr(args, "config", None):
        config = args.config or task.demo_config_path
        if Path(config).parts[:1] == ("runs",):  # written by an earlier block (a tuning run's best.yaml)
            return
        lifecycle.load_config(task, ROOT / config if not Path(config).is_absolute() else config,
                              args.overrides or [])


def _check_python(block: Block) -> None:
    from common import registry
    from common.config import describe

    tree = ast.parse(block.code, filename=str(block))
    tasks = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tasks":
            for alias in node.names:
                assert alias.name in registry.TASK_MODULES, f"{block}: no task {alias.name!r}"
                tasks[alias.asname or alias.name] = alias.name
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                module = node.module if isinstance(node, ast.ImportFrom) else alias.name
                __import__(module.split(".")[0])
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id in tasks):
            keys = {row[0] for row in describe(registry.get_task(tasks[node.func.value.id]).config_class)}
            for keyword in node.keywords:
                if keyword.arg == "set" and isinstance(keyword.value, ast.Dict):
                    for key in map(ast.literal_eval, keyword.value.keys):
                        assert key in keys, f"{block}: no config key {key!r}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, server: subprocess.Popen, block: Block, seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert server.poll() is None, f"{block}: the server stopped: {server.stdout.read()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{block}: the server did not answer on port {port} in {seconds:.0f}s")


def run_page(document: str, folder: Path, timeout: float = 1200) -> None:
    """Run every block of ``document`` in order in ``folder`` (linked to the checkout); fail on the first
    command that exits non-zero, with its output."""
    for name in LINKED:
        if (ROOT / name).exists() and not (folder / name).exists():
            (folder / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(folder), "TF_CPP_MIN_LOG_LEVEL": "2"}
    port = _free_port()
    servers = []
    try:
        for i, block in enumerate(blocks(document)):
            if block.mark.startswith("skip"):
                continue
            if block.lang == "python":
                script = folder / f"block_{i}.py"
                script.write_text(block.code, encoding="utf-8")
                argv = [sys.executable, script.name]
            else:
                code = "\n".join(for_test(c, port) for c in commands(block.code))
                argv = ["bash", "-euo", "pipefail", "-c", code]
            if block.mark == "server":
                server = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
                servers.append(server)
                _wait_for_port(port, server, block)
                continue
            done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
            assert done.returncode == 0, (f"{block} exited {done.returncode}:\n{block.code}\n"
                                          f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
