"""Progress lines with a rate and an ETA for the long steps that are not Keras epochs (a vocabulary
pass, evaluating a long split, the baselines, ``predict`` on a large file).

tqdm draws them (rate, ETA, terminal width). Like Keras' own bar they are shown only when stdout is a
terminal, so logs, pipes and CI stay clean, and only once a step has run ``DELAY_SECONDS``, so the
many short steps of a small run print nothing at all.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm

DELAY_SECONDS = 2.0
REFRESH_SECONDS = 0.5  # redraw at most this often


def progress(what: str | None, total: int | None = None, unit: str = "rows"):
    """A tqdm bar for ``what`` (``with progress(...) as bar: bar.update(n)``); silent off a terminal, and
    for ``what=None`` (a step inside one that has a bar of its own)."""
    return tqdm(total=total, desc=what, unit=f" {unit}", unit_scale=True, delay=DELAY_SECONDS, leave=False,
                mininterval=REFRESH_SECONDS, disable=what is None or not sys.stdout.isatty(), file=sys.stdout,
                dynamic_ncols=True)


class FileProgress:
    """Progress through a file measured in bytes read (so the ETA holds whatever the line lengths; a
    gzip file counts its compressed bytes), labelled with the rows done and rows per second."""

    def __init__(self, what: str, path, unit: str = "rows"):
        self.what, self.unit, self.start = what, unit, time.monotonic()
        self.bar = tqdm(total=Path(path).stat().st_size, desc=what, delay=DELAY_SECONDS,
                        mininterval=REFRESH_SECONDS, leave=False, disable=not sys.stdout.isatty(),
                        file=sys.stdout, dynamic_ncols=True,
                        bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")

    def update(self, position: int, rows: int) -> None:
        """``position``: bytes of the file read so far; ``rows``: rows done so far."""
        if self.bar.disable:
            return
        rate = rows / max(time.monotonic() - self.start, 1e-9)
        self.bar.set_description_str(f"{self.what}: {rows:,} {self.unit}, {rate:,.0f} {self.unit}/s",
                                     refresh=False)
        self.bar.update(position - self.bar.n)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
