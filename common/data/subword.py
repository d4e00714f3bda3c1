"""Subword vocabularies: SentencePiece models fitted on a task's training text and run inside the graph.

A word vocabulary maps every rare word, name or typo to the unknown token, so a model can
never produce a name it did not see often in training. SentencePiece (Kudo & Richardson,
2018; unigram language model or BPE) splits text into pieces learnt from the training split
instead, and with byte fallback a character it never saw becomes its UTF-8 bytes (pieces
``<0xC5>``...): no input is ever unknown, and decoding gives every character back.

The ``sentencepiece`` library trains the model and encodes the training data; the exported
graph runs the same model with ``tensorflow_text.SentencepieceTokenizer``, so an export still
takes raw strings and returns detokenised text. Both libraries are imported only when a
subword vocabulary is used, so word-level runs need neither. Loading such an export needs
``import tensorflow_text`` (or TensorFlow Serving, which ships those ops):
`common.export.load_op_libraries` does it for the suite's own loaders.

Ids: the four reserved pieces take ids 0-3 in the order padding, unknown, start, end (the
layout of the tasks' word vocabularies), so the padding, start and end ids of the model are
those of the pieces and no id is remapped between the library, the graph and the model.
"""
from __future__ import annotations

import base64
import io
import re
import shutil
import tempfile
import weakref
from pathlib import Path

import tensorflow as tf

from common.errors import DataError, UserError

ALGORITHMS = ("unigram", "bpe")
BYTE_PIECES = 256  # byte fallback: one piece per byte value


def require_tensorflow_text():
    """The ``tensorflow_text`` module, or one line saying how to install it."""
    try:
        import tensorflow_text
    except ImportError:
        raise UserError("this run tokenizes with SentencePiece inside the TensorFlow graph, which needs "
                        "TensorFlow Text: pip install tensorflow-text==2.21.1 (it matches TensorFlow 2.21)"
                        ) from None
    return tensorflow_text


def train_sentencepiece(texts, vocab_size: int, algorithm: str, *, reserved, where: str, key: str,
                        threads: int = 2) -> bytes:
    """A SentencePiece model (its serialized proto) of exactly ``vocab_size`` pieces fitted on ``texts``.

    ``reserved`` names the padding, unknown, start and end pieces (ids 0-3). ``where`` (the training
    files) and ``key`` (the config key of the size) name what to change when the size does not fit the
    text: it must hold the reserved pieces, the 256 byte pieces and the training text's characters, and
    it cannot exceed the pieces the text yields.
    """
    import sentencepiece as spm

    sentences = [text for text in texts if text.strip()]
    if not sentences:
        raise DataError(f"{where}: no training text to fit the SentencePiece vocabulary on")
    pad, unk, start, end = reserved
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
            model_type=algorithm,
            byte_fallback=True, pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece=pad, unk_piece=unk,
            bos_piece=start, eos_piece=end, num_threads=threads, minloglevel=2)
    except RuntimeError as exc:
        message = str(exc)
        if small := re.search(r"smaller than required_chars\. \d+ vs (\d+)", message):
            raise DataError(f"{where}: {key}={vocab_size} is too small for SentencePiece: the pieces must "
                            f"hold the 4 reserved tokens, the {BYTE_PIECES} byte pieces and the characters "
                            f"of the training text ({small.group(1)} in all); set {key} to at least "
                            f"{small.group(1)}") from None
        if high := re.search(r"Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)",
                             message):
            largest = high.group(1)
            raise DataError(f"{where}: {key}={vocab_size} is more subword pieces than the training text "
                            f"yields (at most {largest}); set {key} to {largest} or less") from None
        reason = message.strip().splitlines()[-1] if message.strip() else "no reason given"
        raise DataError(f"{where}: SentencePiece could not fit a vocabulary of {vocab_size} pieces "
                        f"({reason})") from None
    return model.getvalue()


def to_state(proto: bytes) -> str:
    """A model as JSON-able text (base64), for the ``state`` a run saves."""
    return base64.b64encode(proto).decode("ascii")


def from_state(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


class SentencePiece:
    """A trained model in Python (the ``sentencepiece`` library): ids of the training data, decoding of
    reference outputs. Gives the same ids as `InGraphSentencePiece` (the tests check it)."""

    def __init__(self, proto: bytes):
        import sentencepiece as spm

        self.processor = spm.SentencePieceProcessor(model_proto=proto)

    def pieces(self) -> list[str]:
        return [self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())]

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.processor.encode(list(texts))

    def decode(self, ids: list[list[int]]) -> list[str]:
        return self.processor.decode([list(map(int, row)) for row in ids])


class InGraphSentencePiece(tf.Module):
    """A trained model as TensorFlow ops (``tensorflow_text.SentencepieceTokenizer``): strings -> ragged
    int32 ids and back, inside a ``tf.function`` and the exported graph.

    The op takes the model as a graph attribute, so the graph itself carries it. `asset` adds the model
    file to an export as a SavedModel asset (``assets/<name>.model``), for clients that tokenize outside
    the graph with the ``sentencepiece`` library. An export must track this module (it holds the
    tokenizer's resource).
    """

    def __init__(self, proto: bytes, name: str):
        super().__init__(name=name)
        text = require_tensorflow_text()
        self.proto = proto
        # The op's resource is shared by the name of the node that makes it: without a name of its own,
        # two tokenizers of one loaded SavedModel (source and target) get the same, first-made model.
        self.tokenizer = text.SentencepieceTokenizer(model=proto, out_type=tf.int32,
                                                     name=f"{name}_sentencepiece")

    def tokenize(self, texts) -> tf.RaggedTensor:
        return self.tokenizer.tokenize(tf.convert_to_tensor(texts, tf.string))

    def detokenize(self, ids) -> tf.Tensor:
        return self.tokenizer.detokenize(ids)

    def asset(self) -> tf.saved_model.Asset:
        """The model file as a SavedModel asset: written into a temporary folder (an asset is copied from a
        file when the SavedModel is written) that is removed with this module."""
        if not hasattr(self, "_asset"):
            folder = Path(tempfile.mkdtemp(prefix="rnnsuite-sentencepiece-"))
            weakref.finalize(self, shutil.rmtree, folder, True)
            path = folder / f"{self.name}.model"
            path.write_bytes(self.proto)
            self._asset = tf.saved_model.Asset(str(path))
        return self._asset
