"""Translation decoding throughput: sentences/s for beam search and greedy, from a run's export.

The translation export serves beam search as ``serving_default`` (width from the run's
``model.beam_width``, 4 by default) and greedy as ``translate_greedy``, both in-graph
(common/decoding.py); this times both on the same batches of source sentences, interleaved
(see _harness.py), so their ratio holds on a busy machine.

    python -m benchmarks.decoding --run-dir runs/translation/multi30k_de_en \\
        --sentences multi30k/test_2016_flickr.de.gz --batch 32
"""
from __future__ import annotations

import argparse
import statistics
import time

from benchmarks import _harness
from benchmarks.serving_latency import batch_of, example_rows


def source_sentences(path: str) -> list[str]:
    """Raw source sentences, one per line (.gz read as such; a relative path is also looked for under
    $RNNSUITE_DATA, as configs' data paths are)."""
    from common.data.datasets import resolve
    from common.data.text import read_lines
    return [line.strip() for _, line in read_lines(resolve(path))]


def markdown(doc: dict) -> str:
    a = doc["args"]
    return _harness.report(
        "Translation decoding speed", doc,
        f"Batches of {a['batch']} source sentences ({doc['sentences']} distinct), the two signatures taking turns "
        f"for {a['rounds']} rounds after one untimed call each; sentences/s from the median round; speed vs "
        "greedy: median (min-max) of the per-round ratios.", ["decoding", "sentences/s", "speed vs greedy"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True, help="a trained translation run folder with export/")
    p.add_argument("--sentences", default=None, help="source sentences, one per line (default: the task's "
                   "serving example); each batch takes the next --batch of them, cycling")
    p.add_argument("--batch", type=int, default=32, help="sentences per call")
    p.add_argument("--rounds", type=int, default=5, help="rounds of beam / greedy")
    p.add_argument("--json", default="benchmarks/results/decoding.json")
    p.add_argument("--md", default="benchmarks/results/decoding.md")
    args = p.parse_args(argv)
    from pathlib import Path

    import numpy as np

    # isort: off
    import common  # noqa: F401 - first, so that TensorFlow starts without its log lines
    import tensorflow as tf
    # isort: on
    if args.sentences:
        example = {"source": np.array(source_sentences(args.sentences), dtype=str)}
    else:
        example = example_rows("translation", args.run_dir)
    sentences = len(example["source"])
    batches = [batch_of({"source": np.roll(example["source"], -i * args.batch)}, args.batch)
               for i in range(max(1, min(args.rounds, -(-sentences // args.batch))))]
    loaded = tf.saved_model.load(str(Path(args.run_dir) / "export"))
    calls = {"beam (serving_default)": loaded.signatures["serving_default"],
             "greedy (translate_greedy)": loaded.signatures["translate_greedy"]}
    times = {name: [] for name in calls}
    for name, fn in calls.items():
        fn(**batches[0])  # untimed: the first call traces
    for r in range(args.rounds):  # both on the same batch within a round, alternating which goes first
        for name in (list(calls) if r % 2 == 0 else list(reversed(calls))):
            start = time.perf_counter()
            calls[name](**batches[r % len(batches)])
            times[name].append(time.perf_counter() - start)
    rows = [{"decoding": name, "sentences/s": args.batch / statistics.median(t)} for name, t in times.items()]
    ratio = _harness.ratio_summary(*times.values())
    rows[0]["speed vs greedy"] = f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})"
    _harness.print_table(rows, ["decoding", "sentences/s", "speed vs greedy"])
    doc = {"command": _harness.command("benchmarks.decoding", argv), "machine": _harness.machine(),
           "args": vars(args), "sentences": sentences, "rows": rows}
    _harness.write_json(args.json, doc)
    _harness.write_text(args.md, markdown(doc))


if __name__ == "__main__":
    main()
