"""The ner task's config sections: ``data`` (files, columns, tagging scheme) and ``model`` (the tagger)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from common.config import BaseDataConfig, option, section
from common.data.checks import ignored_options
from common.errors import ConfigError
from common.layers.recurrent import RNNConfig
from common.metrics.tagging import SCHEMES
from common.pretrained.config import PretrainedEncoderOptions
from tasks.ner.char_lm import CharLMConfig


@dataclass
class NERDataConfig(BaseDataConfig):
    RENAMED: ClassVar[dict] = {"max_sentences": "max_examples"}

    format: str = option("auto", "File format: conll, jsonl ({\"tokens\": [...], \"tags\": [...]} per line), "
                         "or auto (.jsonl/.json suffix means jsonl).", choices=["auto", "conll", "jsonl"])
    token_column: int = option(0, "CoNLL column of the token (0-based; negative counts from the end).")
    tag_column: int = option(-1, "CoNLL column of the tag (0-based; -1: the last column).")
    scheme: str = option("iob2", "Tagging scheme of the data files; predictions are written in it too.",
                         choices=list(SCHEMES))
    encoding: str = option("utf-8", "Text encoding of the data files.")
    val_fraction: float = option(0.1, "Share of the sentences of data.path used for validation (seeded "
                                 "shuffle) when data.val is not given.", min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path used for the test split when data.test is "
                                  "not given.", min=0.0, max=0.9)
    unseen_tags: str = option("error", "Val/test tags never seen in training: stop with an error naming the "
                              "line, or read them as O (counted in the log).", choices=["error", "outside"])
    max_examples: int | None = option(None, "Use at most this many sentences per split (seeded random "
                                      "subset kept in file order; quick runs).", min=1)

    def validate(self):
        super().validate()
        for split in ("val", "test"):  # a split read from its own file is not carved out of data.path
            if getattr(self, split) is not None:
                ignored_options(self, [f"{split}_fraction"], f"data.{split} names the {split} file")
        if self.format == "jsonl":
            self.check_columns_unused("data.format is jsonl")
        elif self.token_column == self.tag_column:
            raise ConfigError(f"config data: data.token_column and data.tag_column are both "
                              f"{self.token_column}, so every token would be its own tag; set "
                              "data.tag_column to the column of the entity tags")

    def check_columns_unused(self, why: str) -> None:
        """JSON Lines records name their tokens and tags: the CoNLL column options mean nothing there."""
        ignored_options(self, ["token_column", "tag_column"], f"{why}: its records carry \"tokens\" and "
                        "\"tags\" lists (the column options are for CoNLL files)")


@dataclass
class NERModelConfig(PretrainedEncoderOptions):
    """The tagger; the word embedding and encoder can start from language models (`common.pretrained`)."""

    RENAMED: ClassVar[dict] = {"word_dim": "embedding_dim"}

    tag_scheme: str = option("bioes", "Scheme the model learns and decodes in (BIOES marks entity ends "
                             "explicitly).", choices=list(SCHEMES))
    crf: bool = option(True, "Linear-chain CRF output layer (Viterbi decoding); false: softmax per token.")
    constrained_decoding: bool = option(True, "Viterbi never takes a transition that is illegal in the "
                                        "tag scheme (e.g. O -> I-PER).")
    lowercase: bool = option(True, "Look words up lower-cased (casing comes from model.casing_dim); false: "
                             "case-preserving vocabulary.")
    casing_dim: int = option(8, "Size of the casing-feature embedding (all upper, initial upper, numeric...; "
                             "0: none).", min=0)
    min_word_count: int = option(1, "Training words seen fewer times are out of vocabulary.", min=1)
    max_vocabulary: int | None = option(None, "Keep at most this many most frequent words (null: all).",
                                        min=1)
    embedding_dim: int = option(100, "Word embedding size (must match pretrained_vectors if given).", min=1)
    pretrained_vectors: str | None = option(None, "GloVe/word2vec text file of word vectors (null: random "
                                            "initialisation).")
    vectors_encoding: str = option("utf-8", "Encoding of the pretrained vectors file.")
    trainable_embeddings: bool = option(True, "Fine-tune the word embeddings.")
    word_dropout: float = option(0.05, "Share of training tokens replaced by the unknown word, so the "
                                 "unknown-word vector is learned.", min=0.0, max=0.9)
    char_encoder: str = option("bilstm", "Character-level word encoder.", choices=["bilstm", "cnn", "none"])
    char_dim: int = option(30, "Character embedding size.", min=1)
    char_units: int = option(25, "Char BiLSTM units per direction, or char CNN filters.", min=1)
    max_word_chars: int = option(20, "Words are cut to this many characters for the char encoder.", min=1)
    dropout: float = option(0.5, "Dropout on the word representations and on the recurrent outputs.",
                            min=0.0, max=0.9)
    rnn: RNNConfig = section(RNNConfig, "Recurrent encoder over words (bidirectional for tagging).")
    char_lm: CharLMConfig = section(CharLMConfig, "Frozen character language models read at each word's "
                                    "edges (contextual string embeddings).")
