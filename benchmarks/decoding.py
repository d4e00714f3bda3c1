"""Translation decoding throughput: sentences/s for greedy and beam search, from a run's export.

The translation export serves beam search as ``serving_default`` (width from the run's
``model.beam_width``, 4 by default) and greedy as ``translate_greedy``, both in-graph
(common/decoding.py); this times both on the same batches of source sentences,
interleaved (see _harness.py), so their ratio is trustworthy on a busy machine.

    PYTHONPATH=. python benchmarks/decoding.py --run-dir runs/translation/demo
"""
from __future__ import annotations

import argparse
import statistics

from benchmarks import _harness
from benchmarks.serving_latency import batch_of, example_rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", required=True, help="a trained translation run folder with export/")
    p.add_argument("--sentences", default=None, help="one source sentence per line (default: the "
                   "task's serving example, cycled)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default="benchmarks/results/decoding.json")
    args = p.parse_args(argv)
    from pathlib import Path

    import numpy as np
    import tensorflow as tf
    if args.sentences:
        lines = [l.strip() for l in Path(args.sentences).read_text(encoding="utf-8").splitlines() if l.strip()]
        example = {"source": np.array(lines, dtype=str)}
    else:
        example = example_rows("translation", args.run_dir)
    inputs = batch_of(example, args.batch)
    loaded = tf.saved_model.load(str(Path(args.run_dir) / "export"))
    candidates = {"beam (serving_default)": lambda: loaded.signatures["serving_default"](**inputs),
                  "greedy (translate_greedy)": lambda: loaded.signatures["translate_greedy"](**inputs)}
    times = _harness.interleaved(candidates, args.rounds)
    rows = [{"decoding": name, "sentences/s": args.batch / statistics.median(t)} for name, t in times.items()]
    ratio = _harness.ratio_summary(*times.values())
    rows[0]["speed vs greedy"] = f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})"
    _harness.print_table(rows, ["decoding", "sentences/s", "speed vs greedy"])
    _harness.write_json(args.json, {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
