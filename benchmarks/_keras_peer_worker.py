"""Our side of benchmarks/torch_peer.py, alone in its own process: a task's model trained as `train` does.

Why not time ``python -m tasks.<task> train``: its ``train_seconds`` holds the data preparation, the
first batch's tracing and XLA compiles and the per-epoch validation, none of which the PyTorch recipe's
batch loop does, and it cannot time part of an epoch. So this builds the run as `common.lifecycle.train`
does (the config with its ``--set`` overrides, the seed and op determinism, ``task.prepare``, the model
built under the config's precision, ``compile_model`` with the config's optimizer, schedule and clipping,
the task's callbacks) and times ``model.fit`` on the task's own training dataset: ``warmup`` untimed
batches, then ``batches`` timed ones (0: one epoch's), no validation. A callback reads each batch's loss
(as the recipe's ``loss.item()``), so every batch has finished when its time is taken.

Prints one line ``MARKER + JSON``.
"""
from __future__ import annotations

import argparse
import json
import time

MARKER = "KERASPEER "


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", choices=["lm", "sst2"])
    p.add_argument("--config", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    p.add_argument("--inter-threads", type=int, default=2, help="TensorFlow inter-op threads")
    p.add_argument("--batches", type=int, default=0, help="timed batches (0: one epoch's)")
    p.add_argument("--warmup", type=int, default=5)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    import common  # noqa: F401 - first, so that TensorFlow starts without its log lines
    from benchmarks._harness import set_threads
    set_threads(args.threads, args.inter_threads)  # before any op
    import keras
    import tensorflow as tf

    from common import lifecycle, registry
    from common.precision import policy_scope
    from common.training import compile_model, seed_everything

    task = registry.get_task({"lm": "language_model", "sst2": "sentiment"}[args.benchmark])
    config = lifecycle.load_config(task, args.config, args.set)
    seed_everything(config.seed, config.train.deterministic)
    prepared = task.prepare(config, None)
    with policy_scope(config.train.precision):
        model = task.build_model(config, prepared)
        compile_model(task, model, config, prepared)
    epoch_batches = int(prepared.train.cardinality())
    batches = args.batches or epoch_batches
    marks = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # the batch has run (as the recipe's loss.item())
            if batch + 1 in (args.warmup, args.warmup + batches):
                marks[batch + 1] = time.perf_counter()

    # One stream over epochs, as common.training.fit feeds it (the task's seeded shuffle per pass).
    start = time.perf_counter()
    model.fit(prepared.train.repeat(), epochs=1, steps_per_epoch=args.warmup + batches, shuffle=False,
              callbacks=[*task.callbacks(model, config, prepared), Clock()], verbose=0)
    warmup_end = marks.get(args.warmup, start)
    result = {"framework": "ours", "benchmark": args.benchmark, "warmup": args.warmup,
              "warmup_s": warmup_end - start, "batches": batches,
              "seconds": marks[args.warmup + batches] - warmup_end, "epoch_batches": epoch_batches,
              "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
              "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                          "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
              "parameters": int(model.count_params()), "vocabulary": len(prepared.state["vocabulary"]),
              "overrides": args.set}
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
