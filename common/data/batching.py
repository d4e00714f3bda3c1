"""Running a model over many variable-length inputs with little padding, results in input order."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from common.progress import progress


def by_length(items: Sequence, length: Callable, batch_size: int, run: Callable,
              what: str | None = "running the model") -> list:
    """``run(batch_of_items) -> per-item results`` over batches of similar length; results in input order.

    Sorting by length before batching means each batch is padded only to its own
    longest item (a few steps instead of the longest input's), which is most of
    the cost of a recurrent model's inference. Every evaluation of a split runs through here, so this
    one bar (`common.progress`: on a terminal, after a few seconds) covers them; ``what=None`` shows none,
    for a caller with a bar of its own.
    """
    order = np.argsort([length(item) for item in items], kind="stable")
    out: list = [None] * len(items)
    with progress(what, total=len(items), unit="inputs") as bar:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, result in zip(chunk, run([items[i] for i in chunk])):
                out[i] = result
            bar.update(len(chunk))
    return out


def by_length_stream(items: Iterable, length: Callable, batch_size: int, run: Callable,
                     window: int) -> Iterator[tuple]:
    """`by_length` over a stream of any length: ``(item, result)`` pairs in input order, ``window`` items
    read, sorted and run at a time (memory bounded by the window; batches padded little once the window
    holds many batches). Without a bar: a streaming caller shows its progress through the file."""
    for chunk in chunked(items, window):
        yield from zip(chunk, by_length(chunk, length, batch_size, run, what=None))


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Lists of ``size`` consecutive items (the last one shorter) of an iterable of any length, so a
    stream is batched exactly as a list cut every ``size`` items would be (``itertools.batched``, 3.12)."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
