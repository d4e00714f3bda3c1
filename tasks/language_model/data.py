"""From text files to token-id streams and batched tf.data splits.

Text is read with `common.data.text` (BOMs, CRLF endings, encodings) and cut into
tokens at one of two granularities: ``word`` (whitespace tokens, an ``<eos>``
after every line as in the PTB protocol; a file that already uses ``<unk>`` keeps
it as the unknown token) or ``char`` (every character, newlines included). One
file given as ``data.path`` is split contiguously: training text first, then
validation, then test.

Every split is one token stream that starts with the boundary token (``<eos>`` /
newline: a text starts where a line ended), so every token of the split is
predicted exactly once, end-of-line markers included. ``stream`` batching cuts
the stream into ``train.batch_size`` contiguous streams (the last one padded) and
walks them in windows of ``data.bptt`` steps; the model carries its recurrent
state from one window to the next (see `tasks.language_model.layers`). ``line``
batching makes every line its own padded example instead.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from common.data.checks import (check_batch_size, check_training_unknowns, note_evaluated_unknowns,
                                 unknown_share)
from common.data.datasets import describe, resolve_all
from common.data.split import SPLITS
from common.data.text import read_joined
from common.errors import DataError, warn
from common.task import Prepared

PAD, UNK, EOS, NEWLINE = "", "<unk>", "<eos>", "\n"
PAD_ID, UNK_ID, BOUNDARY_ID = 0, 1, 2  # the vocabulary starts [PAD, UNK, boundary token]


@dataclass(kw_only=True)
class LanguageModelPrepared(Prepared):
    """The batched splits plus the token ids of every split (the baselines and the report's sample)."""

    ids: dict[str, np.ndarray]  # per split, int32 token ids of the whole stream (without the leading boundary)
    test_is_val: bool = False  # data.test_fraction 0: the test split is the validation split
    start_weights: list[np.ndarray] | None = None  # model.init_from's weights, for a new model to start from


def boundary(granularity: str) -> str:
    """The token that ends a line and starts a text: ``<eos>`` for words, the newline for characters."""
    return EOS if granularity == "word" else NEWLINE


def tokenize(text: str, granularity: str) -> list[str]:
    """Tokens of a whole text: words with an ``<eos>`` after every line, or the characters themselves."""
    if granularity == "char":
        return list(text)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start an empty one
    tokens = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def read_tokens(path_string, config, role: str) -> list[str]:
    """Tokens of a split's file, or of its shards one after the other (a glob or a list)."""
    files = resolve_all(path_string)
    text = read_joined(files, config.data.encoding)
    tokens = tokenize(text, config.data.granularity)
    if not text.strip():
        raise DataError(f"{_named(files)}: the {role} file has no text; a language model needs at least a "
                        "few sentences, one per line")
    return tokens


def _named(files) -> str:
    return str(files[0]) if len(files) == 1 else describe(files)


def _carve(text: str, config, path) -> dict[str, str]:
    """Contiguous train / val / test pieces of one text: whole lines for words, characters for chars."""
    data = config.data
    val_fraction = 0.0 if data.val else data.val_fraction
    test_fraction = 0.0 if data.test else data.test_fraction
    if config.data.granularity == "char":
        units, join = list(text), ""
    else:
        units, join = text.split("\n"), "\n"
        if units and units[-1] == "":
            units.pop()
    n = len(units)
    train_end = int(n * (1.0 - val_fraction - test_fraction))
    val_end = int(n * (1.0 - test_fraction))
    pieces = {"train": units[:train_end], "val": units[train_end:val_end], "test": units[val_end:]}
    for split, piece in pieces.items():
        needed = split == "train" or (split == "val" and not data.val) or (split == "test" and test_fraction)
        if needed and not "".join(piece).strip():
            raise DataError(f"{path}: too little text for a {split} split ({n} "
                            f"{'characters' if join == '' else 'lines'}); add text or change "
                            f"data.{'val' if split != 'test' else 'test'}_fraction")
    return {split: join.join(piece) + (join if join and piece else "") for split, piece in pieces.items()}


def load_tokens(config) -> tuple[dict[str, list[str]], bool]:
    """Tokens of every split, and whether the test split is the validation split (test_fraction 0)."""
    data = config.data
    g = data.granularity
    if data.path is None:
        return {split: read_tokens(getattr(data, split), config, split) for split in SPLITS}, False
    files = resolve_all(data.path)
    path = _named(files)
    text = read_joined(files, data.encoding)
    if not text.strip():
        raise DataError(f"{path}: the file has no text; a language model needs at least a few sentences, "
                        "one per line")
    pieces = _carve(text, config, path)
    tokens = {split: tokenize(pieces[split], g) for split in SPLITS}
    for split in ("val", "test"):
        if getattr(data, split):
            tokens[split] = read_tokens(getattr(data, split), config, split)
    test_is_val = not data.test and data.test_fraction == 0
    if test_is_val:
        tokens["test"] = tokens["val"]
    return tokens, test_is_val


def reverse_lines(tokens: list[str], granularity: str) -> list[str]:
    """The backward language model's stream: the lines in reverse order, each line's tokens reversed and
    its boundary token still at its end (so a text still starts where a line ended)."""
    end = boundary(granularity)
    lines, line = [], []
    for token in tokens:
        if token == end:
            lines.append(line[::-1] + [end])
            line = []
        else:
            line.append(token)
    if line:  # a last line without its boundary (char text without a final newline)
        lines.append(line[::-1])
    return [token for line in reversed(lines) for token in line]


def fit_vocabulary(tokens: list[str], granularity: str, min_freq: int, max_tokens: int | None) -> list[str]:
    """``[PAD, <unk>, boundary]`` then the training tokens seen ``min_freq`` times, most frequent first
    (ties alphabetically), up to ``max_tokens`` entries in all."""
    specials = [PAD, UNK, boundary(granularity)]
    counts = Counter(tokens)
    words = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                   key=lambda t: (-counts[t], t))
    vocabulary = specials + words
    return vocabulary[:max_tokens] if max_tokens else vocabulary


def to_ids(tokens: list[str], index: dict[str, int]) -> np.ndarray:
    return np.fromiter((index.get(t, UNK_ID) for t in tokens), dtype="int32", count=len(tokens))


# ---- stream batching ---------------------------------------------------------------------------------
def streams(ids: np.ndarray, n_streams: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets ``[n_streams, length]``: the split as ``n_streams`` contiguous pieces.

    The stream is ``[boundary] + ids``; input position ``t`` predicts target ``t`` (the next
    token), so every token of ``ids`` is a target exactly once. The last stream is padded
    (``PAD_ID``, masked out of the loss), so no token is dropped.
    """
    sequence = np.concatenate([[BOUNDARY_ID], ids]).astype("int32")
    x, y = sequence[:-1], sequence[1:]
    length = -(-len(x) // n_streams)
    pad = n_streams * length - len(x)
    return (np.pad(x, (0, pad)).reshape(n_streams, length), np.pad(y, (0, pad)).reshape(n_streams, length))


def window_bounds(length: int, bptt: int, rng: np.random.Generator | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of the windows that cover ``[0, length)``: ``ceil(length / bptt)`` windows of
    ``bptt`` steps (the last one shorter), or, with ``rng``, the same number of windows whose inner
    boundaries each moved by up to ``bptt // 4`` (AWD-LSTM-style varying BPTT lengths)."""
    n = max(1, -(-length // bptt))
    cuts = np.arange(1, n) * bptt
    if rng is not None and n > 1:
        jitter = (bptt - 1) // 4  # < bptt / 2: boundaries stay strictly increasing
        cuts = cuts + rng.integers(-jitter, jitter + 1, size=n - 1)
        cuts[-1] = min(cuts[-1], length - 1)
    edges = [0, *cuts.tolist(), length]
    return list(zip(edges[:-1], edges[1:]))


def stream_dataset(ids: np.ndarray, n_streams: int, bptt: int, seed: int | None = None):
    """Windows ``(inputs, targets)`` of shape ``[n_streams, <= bptt]`` in stream order (never shuffled:
    the model's carried state must see them in order). ``seed``: varying window lengths, new each epoch."""
    x, y = streams(ids, n_streams)
    count = len(window_bounds(x.shape[1], bptt))
    epoch = 0

    def windows():
        nonlocal epoch
        rng = np.random.default_rng([seed, epoch]) if seed is not None else None
        epoch += 1
        for start, end in window_bounds(x.shape[1], bptt, rng):
            yield x[:, start:end], y[:, start:end]

    spec = tf.TensorSpec([n_streams, None], tf.int32)
    dataset = tf.data.Dataset.from_generator(windows, output_signature=(spec, spec))
    return dataset.apply(tf.data.experimental.assert_cardinality(count))


# ---- line batching -----------------------------------------------------------------------------------
def line_examples(ids: np.ndarray, max_length: int | None) -> list[np.ndarray]:
    """One ``[boundary] + line`` sequence per line (the line's boundary token ends it), cut to
    ``max_length + 1`` tokens when given; lines of only a boundary are skipped."""
    ends = np.flatnonzero(ids == BOUNDARY_ID)
    starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else np.array([0])
    if not len(ends) or ends[-1] != len(ids) - 1:
        ends = np.concatenate([ends, [len(ids) - 1]])
    examples = []
    for start, end in zip(starts, ends):
        line = np.concatenate([[BOUNDARY_ID], ids[start:end + 1]])
        if len(line) > 2 or line[-1] != BOUNDARY_ID:
            examples.append(line[: max_length + 1] if max_length else line)
    return examples


def line_dataset(ids: np.ndarray, batch_size: int, max_length: int | None = None, seed: int | None = None):
    """Padded batches of independent lines; shuffled each epoch when ``seed`` is given."""
    examples = line_examples(ids, max_length)
    if not examples:
        examples = [np.array([BOUNDARY_ID, BOUNDARY_ID], "int32")]

    def pairs():
        for line in examples:
            yield line[:-1], line[1:]

    spec = tf.TensorSpec([None], tf.int32)
    dataset = tf.data.Dataset.from_generator(pairs, output_signature=(spec, spec))
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(examples)))
    if seed is not None:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    return dataset.padded_batch(batch_size, padding_values=PAD_ID)


def check_batches(config, train_ids: np.ndarray, source: str) -> None:
    """Stream batching cuts the training text into train.batch_size streams: with fewer tokens than streams
    some streams are empty padding, and a stream shorter than one window makes data.bptt meaningless."""
    data, batch, n_tokens = config.data, config.train.batch_size, len(train_ids)
    if data.batching == "line":
        check_batch_size(batch, len(line_examples(train_ids, data.bptt)), "lines", source)
        return
    if n_tokens < 2 * batch:
        raise DataError(f"{source}: the training text has {n_tokens} tokens, too few for "
                        f"train.batch_size={batch} parallel streams of at least two tokens; lower "
                        "train.batch_size or add text")
    length = -(-n_tokens // batch)
    if length < data.bptt:
        warn(f"{source}: each of the {batch} training streams holds {length} tokens, fewer than one window "
             f"of data.bptt={data.bptt}, so the state is never carried across windows; lower "
             "train.batch_size or data.bptt")


def prepare(config, state: dict | None = None) -> LanguageModelPrepared:
    data = config.data
    tokens, test_is_val = load_tokens(config)
    if data.direction == "backward":
        tokens = {split: reverse_lines(t, data.granularity) for split, t in tokens.items()}
    if data.max_split_tokens:
        tokens = {split: t[: data.max_split_tokens] for split, t in tokens.items()}
    fitted = state is None
    if fitted:
        vocabulary = fit_vocabulary(tokens["train"], data.granularity, data.min_freq, data.max_tokens)
        state = {"granularity": data.granularity, "direction": data.direction, "vocabulary": vocabulary}
    index = {token: i for i, token in enumerate(state["vocabulary"])}
    ids = {split: to_ids(t, index) for split, t in tokens.items()}
    source = describe(data.path or data.train)
    shares = {split: unknown_share(int(np.sum(ids[split] == UNK_ID)), len(ids[split])) for split in SPLITS}
    if fitted:
        check_training_unknowns(shares["train"], source,
                                f"data.min_freq ({data.min_freq}) or data.max_tokens ({data.max_tokens})")
    batch = config.train.batch_size
    check_batches(config, ids["train"], source)
    if data.batching == "stream":
        train = stream_dataset(ids["train"], batch, data.bptt, config.seed if data.random_bptt else None)
        val, test = (stream_dataset(ids[split], batch, data.bptt) for split in ("val", "test"))
    else:
        train = line_dataset(ids["train"], batch, data.bptt, seed=config.seed)
        val, test = (line_dataset(ids[split], batch) for split in ("val", "test"))
    unit = "words" if data.granularity == "word" else "characters"
    info = {"granularity": f"{data.granularity} ({len(state['vocabulary'])} vocabulary entries incl. padding, "
                           f"{UNK} and {'<eos>' if data.granularity == 'word' else 'newline'})",
            **{f"{split} tokens": f"{len(ids[split])} ({float(np.mean(ids[split] == UNK_ID)):.2%} {UNK})"
               for split in SPLITS},
            "batching": (f"stream: {batch} parallel streams, windows of {data.bptt} {unit}"
                         f"{' (random lengths)' if data.random_bptt else ''}, state carried across windows"
                         if data.batching == "stream" else f"line: {batch} lines per batch, state reset per line")}
    for split in ("val", "test") if not test_is_val else ("val",):
        note_evaluated_unknowns(info, split, shares[split], "perplexity" if data.granularity == "word"
                                else "bits per character")
    if data.direction == "backward":
        info["direction"] = "backward: every split read right to left (data.direction)"
    if test_is_val:
        info["test split"] = "the validation split (data.test_fraction 0: no separate test text)"
    if data.max_split_tokens:
        info["cap"] = f"first {data.max_split_tokens} tokens of every split (data.max_split_tokens)"
    return LanguageModelPrepared(train=train, val=val, test=test, state=state, info=info, ids=ids,
                                 test_is_val=test_is_val)
