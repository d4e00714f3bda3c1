"""The PyTorch side of benchmarks/torch_peer.py, alone in its own process (the torch venv's python).

Why a file of its own: it runs in the environment that holds PyTorch (.venv-torch), which has no
TensorFlow and none of the project's dependencies, so it imports only the standard library, numpy
and torch (torch inside the functions, so that the tests can read the pure parts without it).

``lm``: the PyTorch examples' ``word_language_model`` recipe (pytorch/examples, main.py, model.py,
data.py) re-implemented as it is: ``Corpus`` (``line.split() + ['<eos>']``, one dictionary over
train, valid and test), ``batchify`` (the stream cut into ``batch`` columns, time first),
``get_batch`` (windows of ``bptt``), ``RNNModel`` (dropout on the embedding, ``nn.LSTM`` with
dropout between layers, dropout on the output, a decoder tied to the embedding, ``log_softmax``
and ``NLLLoss``), and its training loop: the hidden state detached and carried across windows,
``clip_grad_norm_`` then plain SGD by hand (``p.data.add_(p.grad, alpha=-lr)``), ``loss.item()``
every batch. Only the sizes differ from the recipe's defaults (the caller's).

``sst2``: a BiLSTM text classifier of the usual PyTorch shape (bentrevett's pytorch-sentiment-analysis
"upgraded" notebook): lowercased whitespace tokens, a vocabulary of the most frequent words, texts cut
to ``max_length``, batches of texts of similar length (the same length buckets as the suite's sentiment
task) padded to their longest, embedding with dropout, ``pack_padded_sequence`` into a bidirectional
``nn.LSTM``, max pooling over the real steps, dropout, a linear layer, cross-entropy, Adam with
``clip_grad_norm_``.

Both time ``batches`` training batches after ``warmup`` untimed ones (wrapping into the next epoch
when they run past its end, the state reset there as the recipe's next epoch would) and print one
line ``MARKER + JSON``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter

# Run as a file, this folder comes first on sys.path, where benchmarks/profile.py would shadow the standard
# library's profile module (torch's optimizers import cProfile, which imports it).
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

MARKER = "TORCHPEER "
# tasks/sentiment/dataset.py LENGTH_BUCKETS (copied: this process cannot import the project; a test
# keeps the two equal)
LENGTH_BUCKETS = [4, 8, 12, 16, 20, 25, 30, 40, 50, 70, 100, 140, 200, 280, 400, 560, 800]


# ---- PTB: the word_language_model recipe ------------------------------------------------------------
def corpus_ids(folder: str) -> tuple[list[int], int]:
    """The recipe's ``Corpus``: ids of ptb.train.txt, and the size of the dictionary that train, valid
    and test fill in that order (words as they first appear, ``<eos>`` after every line)."""
    index: dict[str, int] = {}
    streams = {}
    for split in ("train", "valid", "test"):
        ids = []
        with open(os.path.join(folder, f"ptb.{split}.txt"), encoding="utf8") as f:
            for line in f:
                for word in line.split() + ["<eos>"]:
                    ids.append(index.setdefault(word, len(index)))
        streams[split] = ids
    return streams["train"], len(index)


def window_starts(stream_length: int, bptt: int) -> list[int]:
    """The recipe's ``range(0, train_data.size(0) - 1, args.bptt)``: one batch per start."""
    return list(range(0, stream_length - 1, bptt))


def run_lm(args) -> dict:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(1111)

    class RNNModel(nn.Module):
        def __init__(self, ntoken, ninp, nhid, nlayers, dropout):
            super().__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            self.decoder.weight = self.encoder.weight  # --tied
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            self.nhid, self.nlayers = nhid, nlayers

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output).view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))

    train, ntokens = corpus_ids(args.data)
    data = torch.tensor(train, dtype=torch.int64)
    nbatch = data.size(0) // args.batch  # batchify
    train_data = data.narrow(0, 0, nbatch * args.batch).view(args.batch, -1).t().contiguous()
    starts = window_starts(train_data.size(0), args.bptt)

    def get_batch(i):
        seq_len = min(args.bptt, len(train_data) - 1 - i)
        return train_data[i:i + seq_len], train_data[i + 1:i + 1 + seq_len].view(-1)

    model = RNNModel(ntokens, args.embedding, args.units, args.layers, args.dropout)
    criterion = nn.NLLLoss()
    model.train()
    lr = args.lr
    state = {"hidden": model.init_hidden(args.batch), "total_loss": 0.0}

    def step(k):
        if k % len(starts) == 0:
            state["hidden"] = model.init_hidden(args.batch)  # a new epoch: train() starts from zeros
        data, targets = get_batch(starts[k % len(starts)])
        model.zero_grad()
        hidden = tuple(h.detach() for h in state["hidden"])  # repackage_hidden
        output, state["hidden"] = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        state["total_loss"] += loss.item()

    info = {"vocabulary": ntokens, "train_tokens": len(train),
            "parameters": sum(p.numel() for p in model.parameters())}
    return timed(step, len(starts), args, info)


# ---- SST-2: a BiLSTM classifier ---------------------------------------------------------------------
def read_sst2(path: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    with open(path, encoding="utf8") as f:
        next(f)  # header: sentence<TAB>label
        for line in f:
            sentence, label = line.rstrip("\n").rsplit("\t", 1)
            texts.append(sentence)
            labels.append(int(label))
    return texts, labels


def bucket_batches(lengths: list[int], batch: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of example indices, each from one length bucket (``LENGTH_BUCKETS``): per bucket
    ``ceil(size / batch)`` batches, as tf.data's ``bucket_by_sequence_length`` gives the suite."""
    buckets: dict[int, list[int]] = {}
    for i in rng.sample(range(len(lengths)), len(lengths)):
        b = sum(lengths[i] >= edge for edge in LENGTH_BUCKETS)  # np.searchsorted(..., side="right")
        buckets.setdefault(b, []).append(i)
    batches = [members[j:j + batch] for members in buckets.values() for j in range(0, len(members), batch)]
    rng.shuffle(batches)
    return batches


def run_sst2(args) -> dict:
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(42)
    rng = random.Random(42)
    texts, labels = read_sst2(os.path.join(args.data, "train.tsv"))
    keep = sorted(rng.sample(range(len(texts)), len(texts) - round(len(texts) * args.val_fraction)))
    tokens = [texts[i].lower().split() for i in keep]
    labels = [labels[i] for i in keep]
    counts = Counter(word for words in tokens for word in words)
    vocabulary = ["<pad>", "<unk>"] + [w for w, _ in counts.most_common(args.max_tokens - 2)]
    index = {w: i for i, w in enumerate(vocabulary)}
    ids = [[index.get(w, 1) for w in words[:args.max_length]] or [1] for words in tokens]
    lengths = [len(words) for words in tokens]  # whitespace tokens before the cut, as the suite buckets
    n_classes = max(labels) + 1

    class BiLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(len(vocabulary), args.embedding, padding_idx=0)
            self.embedding_dropout = nn.Dropout(args.embedding_dropout)
            self.rnn = nn.LSTM(args.embedding, args.units, batch_first=True, bidirectional=True)
            self.dropout = nn.Dropout(args.dropout)
            self.out = nn.Linear(2 * args.units, n_classes)

        def forward(self, x, lengths):
            embedded = self.embedding_dropout(self.embedding(x))
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            output, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True)
            steps = torch.arange(output.size(1))[None, :] < lengths[:, None]
            pooled = output.masked_fill(~steps[:, :, None], float("-inf")).max(dim=1).values
            return self.out(self.dropout(pooled))

    model = BiLSTM()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    criterion = nn.CrossEntropyLoss()
    model.train()
    n_batches = len(bucket_batches(lengths, args.batch, random.Random(0)))  # the same for every shuffle
    epoch = {}

    def step(k):
        if k % n_batches == 0:
            epoch["batches"] = bucket_batches(lengths, args.batch, rng)  # reshuffled every epoch
        members = epoch["batches"][k % n_batches]
        rows = [ids[i] for i in members]
        n = torch.tensor([len(r) for r in rows])
        x = torch.zeros(len(rows), int(n.max()), dtype=torch.int64)
        for j, r in enumerate(rows):
            x[j, :len(r)] = torch.tensor(r)
        y = torch.tensor([labels[i] for i in members])
        optimizer.zero_grad()
        loss = criterion(model(x, n), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        loss.item()

    info = {"vocabulary": len(vocabulary), "train_examples": len(ids),
            "parameters": sum(p.numel() for p in model.parameters())}
    return timed(step, n_batches, args, info)


# ---- both --------------------------------------------------------------------------------------------
def timed(step, epoch_batches: int, args, info: dict) -> dict:
    """Seconds of ``args.warmup`` untimed batches, then of ``args.batches`` timed ones (0: one epoch's)."""
    import torch

    batches = args.batches or epoch_batches
    start = time.perf_counter()
    for k in range(args.warmup):
        step(k)
    warmup_s = time.perf_counter() - start
    start = time.perf_counter()
    for k in range(args.warmup, args.warmup + batches):
        step(k)
    seconds = time.perf_counter() - start
    return {"framework": "torch", "benchmark": args.benchmark, "warmup": args.warmup, "warmup_s": warmup_s,
            "batches": batches, "seconds": seconds, "epoch_batches": epoch_batches,
            "versions": {"torch": torch.__version__},
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            **info}


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", choices=["lm", "sst2"])
    p.add_argument("--data", required=True, help="the folder of ptb.*.txt or of SST-2's train.tsv")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--inter-threads", type=int, default=2, help="torch.set_num_interop_threads")
    p.add_argument("--batches", type=int, default=0, help="timed batches (0: one epoch's)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--embedding", type=int, default=256)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--dropout", type=float, default=0.2, help="the recipe's default")
    p.add_argument("--lr", type=float, default=20.0, help="the recipe's default (lm); Adam's for sst2")
    p.add_argument("--clip", type=float, default=0.25, help="the recipe's default (lm)")
    p.add_argument("--embedding-dropout", type=float, default=0.4, help="sst2")
    p.add_argument("--max-length", type=int, default=64, help="sst2")
    p.add_argument("--max-tokens", type=int, default=20000, help="sst2")
    p.add_argument("--val-fraction", type=float, default=0.05, help="sst2: held out, never trained on")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.inter_threads)  # before any parallel work, or torch refuses
    result = (run_lm if args.benchmark == "lm" else run_sst2)(args)
    print(MARKER + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
