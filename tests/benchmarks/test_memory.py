"""The memory benchmark's pure parts: the inputs it writes, the peak it reads of one child, and the verdict
at 1 GiB, measured or extrapolated (and saying which)."""
import csv
import json
import os
import subprocess
import sys

import pytest

from benchmarks.memory import REPO, at_one_gib, write_input

TEXTS = ["a fine film", 'said "so", then left', "dull"]


@pytest.mark.parametrize("fmt", ["txt", "csv"])
def test_an_input_cycles_the_texts_until_it_holds_the_size(tmp_path, fmt):
    path = tmp_path / f"in.{fmt}"
    made = write_input(path, TEXTS, fmt, 1000)
    assert made["input_bytes"] == path.stat().st_size >= 1000
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        texts, ids = [r["text"] for r in rows], [r["id"] for r in rows]
        assert ids == [str(i) for i in range(len(rows))]
    else:
        texts = path.read_text(encoding="utf-8").splitlines()
    assert len(texts) == made["rows"] and len(texts) % 3 == 0 and texts == TEXTS * (len(texts) // 3)


def test_the_peak_is_the_childs_own_high_water_mark_above_the_small_parents_size(tmp_path):
    """Measured from a fresh, small Python (as the benchmark's own process is): the pytest process may hold
    TensorFlow, and a child's high-water mark counts the process it was forked from."""
    script = f"""
import json, sys
from pathlib import Path
from benchmarks.memory import peak_of_child
log = Path({str(tmp_path)!r})
print(json.dumps([peak_of_child([sys.executable, "-c", code], log / "child.log") for code in sys.argv[1:]]))
"""
    fill = "x = bytearray(300 * 2**20); x[::4096] = b'1' * len(x[::4096])"  # touch every page
    out = subprocess.run([sys.executable, "-c", script, fill, "pass", "raise SystemExit(3)"], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                         check=True)
    big, small, failed = json.loads(out.stdout)
    assert big["peak_rss_mib"] >= 300 > 100 > max(small["peak_rss_mib"], small["parent_rss_mib"])
    assert (big["exit"], small["exit"], failed["exit"]) == (0, 0, 3)


def row(fmt, mib, peak, exit=0):
    return {"format": fmt, "input_mib": mib, "peak_rss_mib": peak, "exit": exit}


def test_a_run_of_a_gib_is_measured_and_smaller_ones_extrapolated_along_a_line_through_the_two_largest():
    verdict = at_one_gib([row("txt", 10, 700), row("txt", 1024, 800), row("txt", 2048, 2000),
                          row("csv", 10, 700), row("csv", 100, 720), row("csv", 200, 730),
                          row("csv", 500, 5000, exit=1)])
    assert verdict["txt"] == {"peak_rss_mib": 800, "how": "measured at 1024 MiB", "bar_mib": 1536.0,
                              "met": True}
    # csv: 10 MiB per 100 MiB through 100 and 200 MiB (the failed run left out): 730 + 82.4 at 1024 MiB
    assert verdict["csv"]["peak_rss_mib"] == 812.4 and verdict["csv"]["how"].startswith("extrapolated")
    assert "+10.00 MiB per 100 MiB" in verdict["csv"]["how"]


def test_a_falling_line_is_not_extrapolated_below_the_largest_measured_peak_and_a_high_one_misses():
    verdict = at_one_gib([row("txt", 10, 750), row("txt", 100, 740),
                          row("csv", 10, 700), row("csv", 100, 900)])
    assert verdict["txt"]["peak_rss_mib"] == 740 and "taken as 0" in verdict["txt"]["how"]
    assert verdict["csv"]["peak_rss_mib"] > 1536 and verdict["csv"]["met"] is False
