"""One candidate of benchmarks/rnn_speed.py, alone in its own process: build, warm up, time on request.

Why a process per candidate: two frameworks (or two models) in one process share the cores
badly, their OpenMP/Eigen pools spinning against each other. The orchestrator sets the thread
environment (``rnn_speed.thread_env``) before this starts, so every pool is sized before the
framework loads, and this module imports only the framework it runs: the torch candidate runs
in .venv-torch, which has no TensorFlow, and the Keras candidates never import torch.

Protocol: one argument, the JSON spec (candidate, cell, hidden, seq, batch, bidirectional,
threads, warmup, steps, round_seconds, check, pin). The worker answers on stdout with lines
``MARKER + JSON``: one ``ready`` line once built and warmed up, then one line with the seconds
of ``steps`` training steps for every ``run`` line read on stdin; ``quit`` or end of input ends it.
"""
from __future__ import annotations

import json
import os
import sys
import time

MARKER = "RNNSPEED "
CHECK_TOL = 1e-5  # as tests/common/layers/test_fast_rnn.py
KERAS_IMPLEMENTATIONS = {"rnnsuite": "auto", "keras": "keras"}


def _say(message: dict) -> None:
    print(MARKER + json.dumps(message), flush=True)


def _timed(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - start


def keras_setup(spec: dict):
    """The suite's or the stock layers in the rnn_training.py classifier; pools sized before any op."""
    import tensorflow as tf

    from benchmarks._harness import set_threads
    set_threads(spec["threads"], spec["threads"])
    import keras

    from benchmarks.rnn_training import keras_model
    args = (spec["cell"], spec["hidden"], spec["seq"], spec["batch"], spec["bidirectional"])
    model, tokens, labels = keras_model(*args, KERAS_IMPLEMENTATIONS[spec["candidate"]])
    info = {"tensorflow": tf.__version__, "keras": keras.__version__,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "jit_compile": bool(model.jit_compile)}
    if spec.get("check"):
        stock, _, _ = keras_model(*args, "keras")
        info["check"] = check_against(model, stock, tokens, labels)
        del stock
    return (lambda: model.train_on_batch(tokens, labels)), info


def check_against(model, stock, tokens, labels) -> dict:
    """Logits and every gradient of the training loss, ``model`` vs ``stock`` with ``model``'s weights.

    Run before any training step, in training mode (the XLA time loops and hand-written
    gradients that the timed steps use)."""
    import keras
    import numpy as np
    import tensorflow as tf
    stock.set_weights(model.get_weights())
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def outputs_and_grads(m):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                logits = m(tokens, training=True)
                loss = loss_fn(labels, logits)
            return [logits] + [tf.convert_to_tensor(g) for g in tape.gradient(loss, m.trainable_weights)]
        return [t.numpy() for t in run()]

    pairs = list(zip(outputs_and_grads(model), outputs_and_grads(stock)))
    return {"tolerance": CHECK_TOL, "tensors": len(pairs),
            "max_abs_diff": float(max(np.max(np.abs(a - b)) for a, b in pairs)),
            "ok": all(np.allclose(a, b, rtol=CHECK_TOL, atol=CHECK_TOL) for a, b in pairs)}


def torch_setup(spec: dict):
    """nn.LSTM / nn.GRU in the same classifier (rnn_training.torch_step); pools sized before any op."""
    import torch
    torch.set_num_threads(spec["threads"])
    torch.set_num_interop_threads(spec["threads"])

    from benchmarks.rnn_training import torch_step
    step = torch_step(spec["cell"], spec["hidden"], spec["seq"], spec["batch"], spec["bidirectional"])
    info = {"torch": torch.__version__, "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads()}
    return step, info


def main(argv=None) -> None:
    spec = json.loads((argv or sys.argv[1:])[0])
    cpus = sorted(os.sched_getaffinity(0))
    if spec.get("pin"):
        cpus = cpus[:spec["threads"]]
        os.sched_setaffinity(0, cpus)
    torch_run = spec["candidate"] == "torch"
    start = time.perf_counter()
    step, info = (torch_setup if torch_run else keras_setup)(spec)
    foreign = "tensorflow" if torch_run else "torch"
    if foreign in sys.modules:
        raise SystemExit(f"the {spec['candidate']} worker imported {foreign}: two frameworks' pools")
    setup_seconds = time.perf_counter() - start
    warmup = [_timed(step, 1) for _ in range(max(1, spec["warmup"]))]
    # The fastest warm-up step (not the first, which compiles) sizes a round to about round_seconds.
    steps = spec["steps"] or max(1, round(spec["round_seconds"] / min(warmup)))
    _say({"ready": True, "pid": os.getpid(), "cpus": cpus, "setup_seconds": setup_seconds,
          "warmup_seconds": warmup, "steps": steps, **info})
    for line in sys.stdin:
        if line.strip() != "run":
            break
        _say({"steps": steps, "seconds": _timed(step, steps)})


if __name__ == "__main__":
    main()
