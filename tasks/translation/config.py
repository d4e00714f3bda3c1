"""The translation task's config sections: ``data`` (which files, which direction, tokens) and ``model``."""
from __future__ import annotations

from dataclasses import dataclass

from common.config import BaseDataConfig, option, section, shown
from common.data.checks import ignored_options
from common.data.subword import ALGORITHMS
from common.data.datasets import as_list
from common.errors import ConfigError
from common.layers.attention import ATTENTION_TYPES
from common.layers.recurrent import RNNConfig

LANG = "{lang}"  # in a parallel-format path: replaced by data.source_lang / data.target_lang
DECODER_CELLS = ("gru", "lstm")
GRANULARITIES = ("word", "sentencepiece")  # the name and the values of the language model's data.granularity


@dataclass
class TranslationDataConfig(BaseDataConfig):
    format: str = option("auto", "tsv: source<TAB>target pairs per line; parallel: two aligned files per "
                         "split, the path contains {lang}; auto: parallel when the path contains {lang}.",
                         choices=["auto", "tsv", "parallel"])
    source_lang: str = option("de", "Replaces {lang} in parallel file paths for the source side.")
    target_lang: str = option("en", "Replaces {lang} in parallel file paths for the target side.")
    source_column: int = option(0, "TSV: 0-based column of the source sentence.", min=0)
    target_column: int = option(1, "TSV: 0-based column of the target sentence.", min=0)
    encoding: str = option("utf-8", "Text encoding of the data files.")
    val_fraction: float = option(0.1, "Share of data.path used for validation when data.val is not given.",
                                 min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path used for the test split when data.test is not "
                                  "given.", min=0.0, max=0.9)
    lowercase: bool = option(True, "Lower-case both sides before tokenizing (translations come out lower-"
                             "cased, and sacreBLEU is then scored case-insensitively).")
    max_length: int = option(50, "Tokens (pieces, with sentencepiece) per sentence: longer training pairs "
                             "are dropped (counted); other "
                             "sentences are cut to this length.", min=2)
    granularity: str = option("word", "Tokens: word (words and punctuation marks; words outside the "
                              "vocabulary become [UNK]) or sentencepiece (subword pieces fitted on the "
                              "training split with the sentencepiece library and run in the graph by "
                              "tensorflow-text, byte fallback: no input or translation is ever [UNK]; "
                              "loading the export needs `import tensorflow_text`).",
                              choices=list(GRANULARITIES))
    sentencepiece_type: str = option("unigram", "SentencePiece algorithm (data.granularity sentencepiece): "
                                     "unigram language model or bpe.", choices=list(ALGORITHMS))
    source_vocab_size: int = option(0, "Keep at most this many source words (0: no limit); with data."
                                    "granularity sentencepiece: the number of source pieces (required).",
                                    min=0)
    target_vocab_size: int = option(0, "Keep at most this many target words (0: no limit); with data."
                                    "granularity sentencepiece: the number of target pieces (required).",
                                    min=0)
    min_freq: int = option(1, "Words seen fewer times in the training data become [UNK].", min=1)
    max_examples: int | None = option(None, "Use at most this many pairs per split (seeded random subset; "
                                      "for quick tests).", min=1)

    def validate(self):
        super().validate()
        for split in ("val", "test"):  # a split read from its own file is not carved out of data.path
            if getattr(self, split) is not None:
                ignored_options(self, [f"{split}_fraction"], f"data.{split} names the {split} file")
        if self.source_column == self.target_column:
            raise ConfigError("config data: data.source_column and data.target_column are both "
                              f"{self.source_column}; they must name different columns")
        for key in ("path", "train", "val", "test"):
            value = getattr(self, key)
            if value is None:
                continue
            if self.format == "parallel" and not all(LANG in item for item in as_list(value)):
                raise ConfigError(f"config key 'data.{key}': format parallel needs {LANG} in the path, "
                                  "e.g. multi30k/train.{lang}.gz")
            if self.format == "tsv" and any(LANG in item for item in as_list(value)):
                raise ConfigError(f"config key 'data.{key}': {shown(value)} contains {LANG} but data.format "
                                  "is tsv; set data.format to parallel (or auto) for two aligned files")
        if self.granularity == "sentencepiece":
            ignored_options(self, ["min_freq"], "data.granularity is sentencepiece (every piece of the "
                            "vocabulary is kept; its size is data.source_vocab_size / "
                            "data.target_vocab_size)")
            for side in ("source", "target"):
                if not getattr(self, f"{side}_vocab_size"):
                    raise ConfigError(f"config key 'data.{side}_vocab_size': data.granularity sentencepiece "
                                      f"needs the number of {side} pieces, e.g. 8000 (0 means no limit only "
                                      "for words)")
        else:
            ignored_options(self, ["sentencepiece_type"], "data.granularity is word (no SentencePiece model "
                            "is trained)")
        if self.source_lang == self.target_lang:
            raise ConfigError(f"config data: data.source_lang and data.target_lang are both "
                              f"{shown(self.source_lang)}; set them to the two languages")
        first = self.path or self.train
        named = shown(first)[1:-1]  # a path, named unquoted like every path in a message
        if self.is_parallel(first):
            ignored_options(self, ["source_column", "target_column"], f"{named} names two aligned "
                            "files (format parallel): each line is one sentence, there are no columns")
        else:
            ignored_options(self, ["source_lang", "target_lang"], f"{named} is one tab-separated file "
                            "(format tsv): the direction comes from data.source_column and "
                            "data.target_column")

    def is_parallel(self, path_string) -> bool:
        """Whether ``path_string`` (a path, glob or list) names aligned files (``{lang}`` in it) rather
        than tab-separated ones."""
        return self.format == "parallel" or (self.format == "auto"
                                             and any(LANG in item for item in as_list(path_string)))

    def direction(self) -> str:
        """Which side is translated into which, for the report."""
        paths = [p for p in (self.path, self.train) if p]
        if paths and self.is_parallel(paths[0]):
            return f"{self.source_lang} -> {self.target_lang}"
        return f"TSV column {self.source_column} -> column {self.target_column}"


@dataclass
class TranslationModelConfig:
    embedding_dim: int = option(128, "Word embedding size (both sides).", min=1)
    encoder: RNNConfig = section(RNNConfig, "Recurrent encoder (the shared recurrent block); its "
                                 "implementation applies to the decoder RNN too.")
    decoder_cell: str = option("gru", "Decoder cell.", choices=list(DECODER_CELLS))
    decoder_units: int = option(256, "Decoder hidden units.", min=1)
    attention: str = option("bahdanau", "Attention score: bahdanau (additive), luong_dot, luong_general.",
                            choices=list(ATTENTION_TYPES))
    attention_units: int = option(128, "Hidden size of the additive (bahdanau) scorer.", min=1)
    feed_context: bool = option(True, "Feed the attention context into the decoder cell, attending from "
                                "the previous state (Bahdanau et al.): better translations, but training "
                                "runs the decoder step by step. false: attention reads the decoder's "
                                "outputs (Luong et al.), so training runs all target steps at once.")
    dropout: float = option(0.2, "Dropout on embeddings and before the output layer.", min=0.0, max=0.9)
    tie_embeddings: bool = option(False, "Share the target embedding matrix with the output layer.")
    label_smoothing: float = option(0.1, "Label smoothing of the training loss.", min=0.0, max=0.5)
    scheduled_sampling: float = option(0.0, "Probability of feeding the decoder its own prediction instead "
                                       "of the gold token during training (0: pure teacher forcing).",
                                       min=0.0, max=0.9)
    beam_width: int = option(4, "Beam width of the exported translator and the evaluation (1: greedy).",
                             min=1)
    length_penalty: float = option(0.6, "GNMT length penalty alpha for beam search (0: none).", min=0.0)
    max_output_length: int = option(60, "Longest translation in tokens.", min=1)
    eval_greedy: bool = option(True, "Also score greedy decoding on the evaluated split (bleu_greedy).")
    attention_plots: int = option(3, "Attention heatmaps written for the first N evaluated sentences.",
                                  min=0)
