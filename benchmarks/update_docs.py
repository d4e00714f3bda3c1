"""Copy the benchmark scripts' Markdown results into docs/benchmarks.md, so the document shows what the
scripts wrote and nothing typed by hand.

A block in the document

    <!-- results: benchmarks/results/rnn_speed.md -->
    ...
    <!-- end results -->

is replaced by that file's text (its leading ``# title`` line dropped: the document has its own
headings). ``--check`` changes nothing and fails when the document differs from the results (the
test suite runs it).

    python -m benchmarks.update_docs
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end results -->)", re.S)


def result_text(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    return "\n".join(lines).rstrip() + "\n"


def updated(document: str, root: Path | None = None) -> str:
    """``document`` with every results block refilled from its file (relative to ``root``, default the
    repository)."""
    root = root or ROOT
    def fill(match):
        path = root / match["path"]
        if not path.is_file():
            raise SystemExit(f"docs: results block names {match['path']}, which does not exist; run the "
                             "benchmark that writes it or remove the block")
        return match.group(1) + result_text(path) + match.group(4)
    return BLOCK.sub(fill, document)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--doc", default=str(ROOT / "docs/benchmarks.md"), help="the document to refill")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when the document is stale")
    args = p.parse_args(argv)
    doc = Path(args.doc)
    text = doc.read_text(encoding="utf-8")
    new = updated(text)
    if args.check:
        if new != text:
            raise SystemExit(f"{doc} is out of date with benchmarks/results; run python -m benchmarks.update_docs")
        print(f"{doc} is up to date")
        return
    if new != text:
        from common.io import atomic_write_text
        atomic_write_text(doc, new)
    print(f"{doc}: {len(BLOCK.findall(text))} results block(s) refilled")


if __name__ == "__main__":
    main()
