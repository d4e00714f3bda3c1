"""The in-graph translator: raw strings in, translations out, all TensorFlow ops.

It is the body of the exported signatures (so the SavedModel needs no project
code) and what the evaluation decodes with, so the scores are those of the
exported graph.
"""
from __future__ import annotations

import tensorflow as tf

from common.data.batching import by_length
from common.data.subword import InGraphSentencePiece, from_state
from common.export import VocabularyIndex
from common.task import Signature
from tasks.translation.data import (
    END_ID,
    PAD_ID,
    RESERVED,
    START_ID,
    UNK,
    UNK_ID,
    detokenize,
    normalize,
    tokenize,
)
from tasks.translation.model import Seq2SeqInference


class Translator:
    """Raw strings -> ``{"translation", "tokens", "score"}`` with a trained `build_seq2seq` model.

    Word runs look words up in the source vocabulary and join the target words back into text;
    subword runs (``data.granularity: sentencepiece``) tokenize and detokenize with the run's two
    SentencePiece models inside the graph, and never emit the unknown piece."""

    def __init__(self, model, state, config):
        self.lowercase = config.data.lowercase
        self.max_length = config.data.max_length
        self.max_output_length = config.model.max_output_length
        self.alpha = config.model.length_penalty
        self.subword = config.data.granularity == "sentencepiece"
        if self.subword:
            self.source_pieces = InGraphSentencePiece(from_state(state["source_sentencepiece"]), "source")
            self.target_pieces = InGraphSentencePiece(from_state(state["target_sentencepiece"]), "target")
        else:
            self.lookup = VocabularyIndex(state["source_vocab"], UNK, reserved=RESERVED)
        self.target_words = tf.constant(state["target_vocab"])
        self.inference = Seq2SeqInference(model, START_ID, END_ID,
                                          banned_ids=(UNK_ID,) if self.subword else ())

    def source_ids(self, texts):
        if self.subword:
            ids = self.source_pieces.tokenize(normalize(texts, self.lowercase))[:, : self.max_length - 1]
        else:
            ids = self.lookup(tokenize(texts, self.lowercase)[:, : self.max_length - 1])
        ends = tf.fill([tf.shape(texts)[0], 1], END_ID)
        return tf.concat([ids, tf.RaggedTensor.from_tensor(ends)], axis=1).to_tensor(PAD_ID)

    def __call__(self, texts, beam_width):
        decoded = self.inference.translate_ids(self.source_ids(texts), max_length=self.max_output_length,
                                               beam_width=beam_width, alpha=self.alpha)
        ids = tf.RaggedTensor.from_tensor(decoded.tokens, lengths=decoded.lengths)
        tokens = tf.gather(self.target_words, ids)
        return {"translation": self.target_pieces.detokenize(ids) if self.subword else detokenize(tokens),
                "tokens": tf.strings.reduce_join(tokens, axis=-1, separator=" "),
                "score": decoded.scores}

    def resources(self) -> list:
        """What an export of this translator must track besides the model: the SentencePiece tokenizers
        and, for clients that tokenize outside the graph, their model files as SavedModel assets."""
        if not self.subword:
            return []
        pieces = [self.source_pieces, self.target_pieces]
        return pieces + [p.asset() for p in pieces]

    def translate(self, texts: list[str], beam_width: int,
                  batch_size: int = 64) -> tuple[list[str], list[list[str]]]:
        """Translations and their tokens in input order (batches of similar length decode faster)."""
        fn = tf.function(lambda x: self(x, beam_width), input_signature=[tf.TensorSpec([None], tf.string)])

        def run(batch):
            out = fn(tf.constant(batch, tf.string))
            return [(text.decode("utf-8"), tokens.decode("utf-8").split())
                    for text, tokens in zip(out["translation"].numpy(), out["tokens"].numpy())]

        results = by_length(texts, lambda text: len(text.split()), batch_size, run)
        return [text for text, _ in results], [tokens for _, tokens in results]


def serving_functions(model, config, state) -> dict[str, Signature]:
    """``serving_default`` decodes with beam search (``model.beam_width``), ``translate_greedy`` greedily."""
    translator = Translator(model, state, config)
    spec = [tf.TensorSpec([None], tf.string, name="source")]
    beam = config.model.beam_width
    track = translator.resources()
    return {"serving_default": Signature(lambda source: translator(source, beam), spec, track),
            "translate_greedy": Signature(lambda source: translator(source, 1), spec, track)}
