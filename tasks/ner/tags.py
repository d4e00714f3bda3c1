"""Sequence-tagging data: CoNLL column files, JSON Lines, and tagging-scheme conversions.

Readers return `TaggedSentence` objects that remember where each sentence came
from, so every later complaint (an unseen tag, a malformed tag) can name the file
and line. Tag schemes are converted through entity spans: a sequence in any
scheme is read into ``(type, start, end)`` spans and written back in another
scheme. Reading spans is where ill-formed input is repaired the way conlleval
does it (an ``I-X`` that follows nothing starts a new entity); each repair is
counted so the loader can report how many it made.

There is a graph version of the conversion (`convert_tags_tf`) for exported
models, which must turn the decoder's tags into the user's scheme with only
TensorFlow at hand; both versions apply the same rules.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from common.config import shown
from common.data.text import iter_lines
from common.errors import ConfigError, DataError
from common.metrics.tagging import OUTSIDE, split_tag, to_spans

DOCSTART = "-DOCSTART-"
# The phrase types of a chunk column (CoNLL-2000, and CoNLL-2003's third column): B-NP, I-VP... are
# well-formed BIO tags, so a data.tag_column pointing there passes every tag check and trains a chunker.
CHUNK_TYPES = frozenset({"NP", "VP", "PP", "ADVP", "ADJP", "SBAR", "PRT", "CONJP", "INTJ", "LST", "UCP"})
# Part-of-speech tags: the Penn Treebank's (the POS column of CoNLL-2000/2003) and Universal
# Dependencies' UPOS (CoNLL-U files).
POS_TAGS = frozenset(
    "CC CD DT EX FW IN JJ JJR JJS LS MD NN NNS NNP NNPS PDT POS PRP PRP$ RB RBR RBS RP SYM TO UH VB VBD VBG "
    "VBN VBP VBZ WDT WP WP$ WRB $ # `` '' ( ) , . : -LRB- -RRB- -NONE- NN|SYM "
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ VERB X".split())
POS_SHARE = 0.9  # a column of which at least this share of the tokens carry POS tags holds POS tags


@dataclass
class TaggedSentence:
    tokens: list[str]
    tags: list[str] | None
    source: str = ""  # "file:line" of the sentence's first token, for error messages
    lines: list[int] = field(default_factory=list)  # line of each token (CoNLL) or of the record (JSONL)
    columns: list[list[str]] | None = None  # every column of each token line (CoNLL input, for echoing)
    raw_tags: list[str] | None = None  # the tags as read, when ``tags`` were converted to another scheme


# ---- readers ----------------------------------------------------------------------------------


def read_conll(path, token_column: int = 0, tag_column: int | None = -1,
               encoding: str = "utf-8") -> list[TaggedSentence]:
    """Sentences of a CoNLL column file (see `iter_conll`), as a list; a file without one is refused."""
    sentences = list(iter_conll(path, token_column, tag_column, encoding))
    if not sentences:
        raise DataError(f"{path}: no sentences found; a CoNLL file has one token per line with "
                        "blank lines between sentences")
    return sentences


def iter_conll(path, token_column: int = 0, tag_column: int | None = -1, encoding: str = "utf-8",
               numbered=None):
    """Sentences of a CoNLL column file: one token per line, blank lines between sentences.

    ``-DOCSTART-`` lines are skipped. Every token line must have the same number of
    columns as the first one (CoNLL files are whitespace-separated and tokens never
    contain spaces), and enough columns for ``token_column`` / ``tag_column``.
    ``tag_column=None`` reads tokens only (unlabelled input for prediction). Sentences are yielded as
    they are read from ``numbered`` (``(line, text)`` pairs; default `iter_lines` of ``path``), so a
    file of any size is read in memory bounded by its longest sentence.
    """
    path = Path(path)
    tokens, tags, lines, rows = [], [], [], []
    width = None

    def sentence():
        return TaggedSentence(list(tokens), list(tags) if tag_column is not None else None,
                              f"{path}:{lines[0]}", list(lines), list(rows))

    for number, line in iter_lines(path, encoding) if numbered is None else numbered:
        columns = line.split()
        if not columns or columns[0] == DOCSTART:
            if tokens:
                yield sentence()
            tokens, tags, lines, rows = [], [], [], []
            continue
        if width is None:
            width = len(columns)
            needed = max(_column_index_needed(token_column), _column_index_needed(tag_column))
            if width < needed:
                raise DataError(
                    f"{path}:{number}: {width} column(s), but data.token_column={token_column} and "
                    f"data.tag_column={tag_column} need at least {needed}; set the column indices "
                    "to match the file (0-based, negative counts from the end)")
        elif len(columns) != width:
            raise DataError(f"{path}:{number}: {len(columns)} column(s), expected {width} like the first "
                            "token line; each token line needs the same columns, sentences are separated "
                            "by blank lines")
        tokens.append(columns[token_column])
        rows.append(columns)
        if tag_column is not None:
            tags.append(columns[tag_column])
        lines.append(number)
    if tokens:
        yield sentence()


def _column_index_needed(index: int | None) -> int:
    if index is None:
        return 0
    return index + 1 if index >= 0 else -index


def read_jsonl(path, require_tags: bool = True, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Sentences of a JSON Lines file (see `iter_jsonl`), as a list; a file without one is refused."""
    sentences = list(iter_jsonl(path, require_tags, encoding))
    if not sentences:
        raise DataError(f"{path}: no sentences found; expected JSON Lines like "
                        '{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}')
    return sentences


def iter_jsonl(path, require_tags: bool = True, encoding: str = "utf-8", numbered=None):
    """Sentences of a JSON Lines file, one ``{"tokens": [...], "tags": [...]}`` object a line, yielded as
    they are read from ``numbered`` (``(line, text)`` pairs; default `iter_lines` of ``path``); blank
    lines and records without tokens are skipped."""
    path = Path(path)
    for number, line in iter_lines(path, encoding) if numbered is None else numbered:
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg}); each line must be one object like "
                            '{"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}') from None
        if not isinstance(record, dict) or not isinstance(record.get("tokens"), list):
            raise DataError(f"{where}: expected an object with a \"tokens\" list")
        tokens = record["tokens"]
        tags = record.get("tags")
        if require_tags and tags is None:
            raise DataError(f"{where}: missing \"tags\" (one tag per token)")
        if not all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in tokens):
            raise DataError(f"{where}: every token must be a non-empty string without spaces")
        if tags is not None:
            # spaces would split a tag in the CoNLL predictions and the ``sentences`` signature's tag strings
            if not isinstance(tags, list) or not all(isinstance(t, str) and not any(c.isspace() for c in t)
                                                     for t in tags):
                raise DataError(f"{where}: \"tags\" must be a list of strings without spaces")
            if len(tags) != len(tokens):
                raise DataError(f"{where}: {len(tokens)} tokens but {len(tags)} tags; give one tag per token")
        if tokens:
            yield TaggedSentence(tokens, tags, where, [number] * len(tokens))


def read_tagged(path, fmt: str = "auto", token_column: int = 0, tag_column: int | None = -1,
                encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read CoNLL or JSONL (``fmt='auto'``: ``.jsonl``/``.json`` suffix means JSON Lines)."""
    path = Path(path)
    if fmt == "auto":
        suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
        fmt = "jsonl" if suffixes and suffixes[-1] in (".jsonl", ".json") else "conll"
    if fmt == "jsonl":
        return read_jsonl(path, require_tags=tag_column is not None, encoding=encoding)
    return read_conll(path, token_column, tag_column, encoding)


def write_conll(path, sentences_rows) -> None:
    """Write CoNLL text atomically: per sentence, a list of per-token column lists."""
    from common.io import atomic_write_text

    blocks = ["\n".join(" ".join(row) for row in rows) for rows in sentences_rows]
    atomic_write_text(path, "\n\n".join(blocks) + "\n")


# ---- schemes ----------------------------------------------------------------------------------


def column_holds(counts: Counter) -> str | None:
    """What a column with these values (and counts) holds: "part-of-speech" (nearly all values POS tags),
    "phrase-chunk" or "entity" (O and BIO tags, whose types are all chunk phrases or not), else None
    (only O, or values that are not tags: `check_tags` names them)."""
    if sum(n for value, n in counts.items() if value in POS_TAGS) >= POS_SHARE * sum(counts.values()):
        return "part-of-speech"
    kinds = set()
    for value in counts:
        try:
            kinds.add(split_tag(value)[1])
        except ValueError:
            return None
    kinds.discard(None)
    if not kinds:
        return None
    return "phrase-chunk" if kinds <= CHUNK_TYPES else "entity"


def check_tag_column(sentences: list[TaggedSentence], token_column: int, tag_column: int, path) -> None:
    """Refuse a CoNLL ``data.tag_column`` that reads the chunk column (B-NP, I-VP...) or the POS column
    (NN, VBZ...) instead of the entity tags: a chunk column trains silently on the wrong labels, and a
    POS column would be refused tag by tag with advice about the tagging scheme. Names the column of
    entity tags when the file has one."""
    if not sentences[0].columns:  # JSON Lines: the records name their tags
        return
    tags = Counter(t for s in sentences for t in s.tags)
    holds = column_holds(tags)
    if holds in (None, "entity"):
        return
    width = len(sentences[0].columns[0])
    column = tag_column % width
    hint = ""
    for other in sorted(set(range(width)) - {column, token_column % width}):
        values = Counter(row[other] for s in sentences for row in s.columns)
        if column_holds(values) == "entity":
            entity_tags = [v for v, _ in values.most_common() if v != OUTSIDE][:3]
            hint = f" (here column {other}: {', '.join(shown(v) for v in entity_tags)}...)"
            break
    examples = ", ".join(shown(t) for t, _ in tags.most_common(4))
    raise ConfigError(f"{path}:{sentences[0].lines[0]}: data.tag_column ({tag_column}) reads column {column} "
                      f"of {width}, which holds {holds} tags ({examples}), not entity tags; set "
                      f"data.tag_column to the column of the entity tags{hint}")


def check_tags(sentence: TaggedSentence, scheme: str) -> None:
    """Raise `DataError` for a tag that is not ``O`` or ``<prefix>-<TYPE>`` valid in ``scheme``."""
    allowed = "BIES" if scheme == "bioes" else "BI"
    for i, tag in enumerate(sentence.tags or []):
        try:
            prefix, _ = split_tag(tag)
        except ValueError:
            prefix = None
        if prefix is None or (prefix != OUTSIDE and prefix not in allowed):
            line = sentence.lines[i] if i < len(sentence.lines) else "?"
            path = sentence.source.rsplit(":", 1)[0]
            raise DataError(f"{path}:{line}: tag {shown(tag)} is not valid in scheme {scheme}; expected O or "
                            f"{'/'.join(allowed)}-<TYPE> (set data.scheme to the file's tagging scheme)")


def entities(tokens, tags, scheme: str) -> list[dict]:
    """Entities as JSON-ready dicts with token spans (``end`` exclusive) and their text."""
    spans, _ = to_spans(tags, scheme)
    return [{"type": kind, "start": start, "end": end, "text": " ".join(tokens[start:end])}
            for kind, start, end in spans]


# ---- the same conversion inside a TensorFlow graph (for exported models) ------------------------


def convert_tags_tf(tags, valid, target: str):
    """Convert a padded batch of tag strings ``[batch, time]`` to ``target`` with TF ops.

    ``valid`` marks real tokens. Mirrors `to_spans` + `from_spans` (whose reading rules
    are the same for every source scheme): a token begins an entity if its prefix is
    B/S, or the previous token is O / of another type / ended an entity (E/S); it ends
    one if the next token does not continue it. Padding becomes "".
    """
    import tensorflow as tf

    tags = tf.where(valid, tags, OUTSIDE)
    outside = tf.equal(tags, OUTSIDE)
    prefix = tf.where(outside, OUTSIDE, tf.strings.substr(tags, 0, 1))
    kind = tf.where(outside, "", tf.strings.regex_replace(tags, "^[BIES]-", ""))

    def shift_right(x, fill):
        return tf.concat([tf.fill(tf.shape(x[:, :1]), fill), x[:, :-1]], axis=1)

    def shift_left(x, fill):
        return tf.concat([x[:, 1:], tf.fill(tf.shape(x[:, :1]), fill)], axis=1)

    prev_kind = shift_right(kind, "")
    ended = tf.logical_or(tf.equal(prefix, "E"), tf.equal(prefix, "S"))
    prev_ended = shift_right(ended, True)
    begins = tf.logical_and(~outside, tf.reduce_any(tf.stack([
        tf.equal(prefix, "B"), tf.equal(prefix, "S"), tf.not_equal(prev_kind, kind), prev_ended]), axis=0))
    next_kind = shift_left(kind, "")
    next_begins = shift_left(begins, True)
    ends = tf.logical_and(~outside, tf.logical_or(next_begins, tf.not_equal(next_kind, kind)))
    if target == "iob2":
        out_prefix = tf.where(begins, "B", "I")
    elif target == "bioes":
        out_prefix = tf.where(begins, tf.where(ends, "S", "B"), tf.where(ends, "E", "I"))
    else:  # iob1: B- only where an entity directly follows one of the same type
        out_prefix = tf.where(tf.logical_and(begins, tf.equal(prev_kind, kind)), "B", "I")
    out = tf.where(outside, OUTSIDE, tf.strings.join([out_prefix, kind], separator="-"))
    return tf.where(valid, out, "")


def allowed_transitions(tags, scheme: str) -> list[list[int]]:
    """0/1 matrix of legal moves between ``tags`` in ``scheme``, for constrained CRF decoding.

    Shape ``[n + 2, n + 2]``: row/column ``n`` is START, ``n + 1`` is END (rows are
    "from", columns "to"). Illegal in IOB2: ``I-X`` after anything but ``B-X``/``I-X``;
    in BIOES additionally anything but ``I-X``/``E-X`` after ``B-X``/``I-X``, and
    ``I``/``E`` after O, E, S or START; in IOB1: ``B-X`` after anything but an X entity.
    """
    n = len(tags)
    parts = [split_tag(t) for t in tags] + [("START", None), ("END", None)]

    def legal(a, b) -> bool:
        (pa, ka), (pb, kb) = parts[a], parts[b]
        if pb == "START" or pa == "END":
            return False
        inside = pa in ("B", "I") and scheme == "bioes"  # an open BIOES entity must continue
        if inside:
            return pb in ("I", "E") and kb == ka
        if pb == "END":
            return True
        if scheme == "iob2":
            return pb != "I" or (pa in ("B", "I") and ka == kb)
        if scheme == "bioes":
            return pb in ("O", "B", "S")
        return pb != "B" or (pa in ("B", "I") and ka == kb)  # iob1

    return [[int(legal(a, b)) for b in range(n + 2)] for a in range(n + 2)]
