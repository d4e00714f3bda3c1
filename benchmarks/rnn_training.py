"""Training throughput (tokens/s) of the suite's RecurrentBlock vs stock Keras (and PyTorch).

A text-classifier-shaped model (embedding 128 -> recurrent layer -> dense) is trained
on one fixed random batch with ``train_on_batch``, so only the model is timed, not
the input pipeline. Candidates run interleaved in one process (see _harness.py); the
ratio column is the median of per-round speed ratios with its min-max spread.

    PYTHONPATH=. python benchmarks/rnn_training.py            # short default (~2 min)
    PYTHONPATH=. python benchmarks/rnn_training.py --full     # the issue's whole grid
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time

from benchmarks import _harness

EMBED, VOCAB = 128, 1000


def keras_step(cell, units, seq, batch, bidirectional, implementation, jit=True):
    model, tokens, labels = keras_model(cell, units, seq, batch, bidirectional, implementation, jit)
    return lambda: model.train_on_batch(tokens, labels)


def keras_model(cell, units, seq, batch, bidirectional, implementation, jit=True):
    """The compiled classifier and its fixed batch (rnn_speed.py also checks fast against stock on it)."""
    import keras
    import numpy as np

    from common.layers.recurrent import RecurrentBlock
    keras.utils.set_random_seed(0)
    inputs = keras.Input((seq,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, EMBED)(inputs)
    x = RecurrentBlock(cell=cell, units=units, bidirectional=bidirectional, implementation=implementation)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    for layer in model._flatten_layers():
        if hasattr(layer, "jit_recurrence"):  # the fast layers: XLA time loops on or off
            layer.jit_recurrence = jit
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, VOCAB, size=(batch, seq)).astype("int32")
    labels = rng.integers(0, 2, size=(batch, 1)).astype("float32")
    return model, tokens, labels


def torch_step(cell, units, seq, batch, bidirectional):
    import torch
    torch.manual_seed(0)
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(VOCAB, EMBED)
            self.rnn = rnn_cls(EMBED, units, batch_first=True, bidirectional=bidirectional)
            self.out = torch.nn.Linear(units * (2 if bidirectional else 1), 1)

        def forward(self, tokens):
            _, state = self.rnn(self.embed(tokens))
            h = state[0] if cell == "lstm" else state
            return self.out(torch.cat(list(h), dim=1))  # last layer's final state(s), as Keras

    model = Model()
    opt = torch.optim.Adam(model.parameters())
    tokens = torch.randint(1, VOCAB, (batch, seq))
    labels = torch.randint(0, 2, (batch, 1)).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(tokens), labels).backward()
        opt.step()
    return step


def have_torch() -> bool:
    try:
        import torch  # noqa: F401

        # Load TorchDynamo (which the optimizers import lazily) before TensorFlow's XLA has
        # loaded its LLVM: importing it afterwards crashes the process (torch 2.14, TF 2.21).
        import torch._dynamo  # noqa: F401
        return True
    except ImportError:
        return False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--units", default="128", help="comma list (full grid: 128,256)")
    p.add_argument("--seq", default="32", help="comma list (full grid: 32,128)")
    p.add_argument("--directions", default="uni,bi")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="train steps per timed round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per shape")
    p.add_argument("--full", action="store_true", help="hidden 128/256 x seq 32/128 x uni/bi x lstm/gru")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    p.add_argument("--no-jit-baseline", action="store_true",
                   help="skip the 'fast_nojit' candidate (the fast layers without XLA time loops)")
    p.add_argument("--intra-threads", type=int, default=0, help="TF intra-op threads (0 = default)")
    p.add_argument("--inter-threads", type=int, default=0, help="TF inter-op threads (0 = default)")
    p.add_argument("--json", default="benchmarks/results/rnn_training.json")
    args = p.parse_args(argv)
    if args.full:
        args.units, args.seq = "128,256", "32,128"
    _harness.set_threads(args.intra_threads, args.inter_threads)
    use_torch = not args.no_torch and have_torch()
    if not use_torch:
        print("PyTorch not importable (or --no-torch): comparing with stock Keras only")

    rows = []
    grid = itertools.product(args.cells.split(","), [int(u) for u in args.units.split(",")],
                             [int(s) for s in args.seq.split(",")], args.directions.split(","))
    for cell, units, seq, direction in grid:
        bi = direction == "bi"
        candidates = {"suite": keras_step(cell, units, seq, args.batch, bi, "fast"),
                      "keras": keras_step(cell, units, seq, args.batch, bi, "keras")}
        if not args.no_jit_baseline:
            candidates["fast_nojit"] = keras_step(cell, units, seq, args.batch, bi, "fast", jit=False)
        if use_torch:
            candidates["torch"] = torch_step(cell, units, seq, args.batch, bi)
        steps = {name: (lambda fn=fn: [fn() for _ in range(args.steps)]) for name, fn in candidates.items()}
        start = time.perf_counter()
        times = _harness.interleaved(steps, args.rounds)
        tokens = args.batch * seq * args.steps
        row = {"cell": cell, "units": units, "seq": seq, "dir": direction,
               "seconds": round(time.perf_counter() - start, 1)}
        for name, t in times.items():
            row[f"{name} tok/s"] = round(tokens / statistics.median(t))
        for other in [n for n in times if n != "suite"]:
            r = _harness.ratio_summary(times["suite"], times[other])
            row[f"suite/{other}"] = round(r["median"], 2)
            row[f"suite/{other} range"] = f"{r['min']:.2f}-{r['max']:.2f}"
        rows.append(row)
        print(row, flush=True)

    columns = ["cell", "units", "seq", "dir"] + [f"{n} tok/s" for n in candidates] + \
        [c for n in candidates if n != "suite" for c in (f"suite/{n}", f"suite/{n} range")]
    _harness.print_table(rows, columns)
    _harness.write_json(args.json, {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
