"""The sentiment task's ``data`` and ``model`` config sections, checked when the config is loaded."""
from __future__ import annotations

from dataclasses import dataclass

from common.config import BaseDataConfig, option, section
from common.data.checks import ignored_options
from common.data.datasets import as_list
from common.errors import ConfigError
from common.layers.pooling import POOLING_MODES
from common.layers.recurrent import RNNConfig
from common.pretrained.config import PretrainedEncoderOptions

STANDARDIZE = {"lower_and_strip_punctuation": "lower_and_strip_punctuation",
               "lower_and_split_punctuation": "lower_and_split_punctuation",  # ours: `standardize`
               "lower": "lower", "strip_punctuation": "strip_punctuation", "none": None}
TOKENIZERS = ("none", "treebank", "tweet")
LABEL_PLACEHOLDER = "{label}"


@dataclass
class SentimentDataConfig(BaseDataConfig):
    format: str = option("auto", "File layout: csv, tsv, jsonl (auto: from the file suffix), or label_files "
                         "(one plain file of texts per label; the path contains {label}, replaced by each "
                         "of data.label_names).", choices=["auto", "csv", "tsv", "jsonl", "label_files"])
    text_column: str = option("text", "Column (CSV/TSV header or JSON key) holding the text.")
    label_column: str = option("label", "Column holding the label (strings or integers).")
    label_names: list[str] = option([], "Labels for format label_files, e.g. [neg, pos] with path "
                                    "rt-polarity/rt-polarity.{label}.")
    encoding: str = option("utf-8", "Text encoding of the data files (rt-polarity: cp1252).")
    val_fraction: float = option(0.1, "Share of data.path carved out for validation (stratified, seeded) "
                                 "when data.val is not given.", min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path carved out for the test split when data.test is "
                                  "not given (ignored with data.folds).", min=0.0, max=0.9)
    folds: int | None = option(None, "k-fold cross-validation: the test split is fold data.fold of a "
                               "stratified k-fold split of data.path (null: no CV).", min=2)
    fold: int = option(0, "Which fold is the test split when data.folds is set (0-based).", min=0)
    empty_texts: str = option("drop", "Examples with an empty text: drop them with a counted warning, "
                              "or stop with an error.", choices=["drop", "error"])
    tokenizer: str = option("none", "Python-side NLTK tokenizer applied before the model (train and "
                            "predict; clients of the raw SavedModel must then tokenize alike): none, "
                            "treebank, tweet.", choices=list(TOKENIZERS))
    max_examples: int | None = option(None, "Use at most this many examples per split (seeded random "
                                      "subset; for quick tests).", min=1)

    def validate(self):
        super().validate()
        self._check_unused()
        if self.format == "label_files":
            if len(self.label_names) < 2:
                raise ConfigError("config key 'data.label_names': format label_files needs at least two "
                                  "labels, e.g. [neg, pos]")
            for key in ("path", "train", "val", "test"):
                value = getattr(self, key)
                if value is not None and not all(LABEL_PLACEHOLDER in item for item in as_list(value)):
                    raise ConfigError(f"config key 'data.{key}': with format label_files the path must "
                                      f"contain {LABEL_PLACEHOLDER}, e.g. rt-polarity/rt-polarity.{{label}}")
        if self.folds is not None:
            if self.path is None:
                raise ConfigError("config key 'data.folds': cross-validation splits data.path; set data.path "
                                  "instead of data.train/val/test")
            if self.test is not None:
                raise ConfigError("config data: data.folds makes the test split from data.path; "
                                  "remove data.test or data.folds")
            if self.fold >= self.folds:
                raise ConfigError(f"config key 'data.fold': must be < data.folds ({self.folds}), "
                                  f"got {self.fold}")
        if self.path is not None:  # a carved split with a zero fraction would be empty
            for split, fraction in (("val", self.val_fraction), ("test", self.test_fraction)):
                named = getattr(self, split) is not None or (split == "test" and self.folds is not None)
                if not named and fraction == 0:
                    raise ConfigError(f"config data: the {split} split is empty; give data.{split} or a "
                                      f"positive data.{split}_fraction")

    def _check_unused(self):
        """Options the chosen layout never reads, and one column read as both text and label."""
        if self.format == "label_files":
            ignored_options(self, ["text_column", "label_column"], "format label_files has no columns (each "
                            "file's texts get the label in its name)")
        else:
            ignored_options(self, ["label_names"], f"data.format is {self.format} (labels come from "
                            "data.label_column; label_names is read by format label_files only)")
            if self.text_column == self.label_column:
                raise ConfigError(f"config data: data.text_column and data.label_column are both "
                                  f"{self.text_column[:200]!r}, so the text would be its own label; set "
                                  "data.label_column to the column of class labels")
        if self.folds is None:
            ignored_options(self, ["fold"], "data.folds is not set (no cross-validation)")
        for split in ("val", "test"):  # a split read from its own file is not carved out of data.path
            if getattr(self, split) is not None and getattr(self, f"{split}_fraction") != 0:  # 0: carve none
                ignored_options(self, [f"{split}_fraction"], f"data.{split} names the {split} file")


@dataclass
class SentimentModelConfig(PretrainedEncoderOptions):
    """The classifier; the embedding and encoder can start from language models (`common.pretrained`)."""

    max_tokens: int = option(20000, "Vocabulary size, including the padding and out-of-vocabulary tokens.",
                             min=3)
    max_length: int = option(64, "Texts are cut to this many tokens.", min=1)
    standardize: str = option("lower_and_strip_punctuation", "TextVectorization standardization: Keras' "
                              "modes, or lower_and_split_punctuation (lowercase, each punctuation mark a "
                              "token of its own: '!' and '?' carry sentiment).",
                              choices=list(STANDARDIZE))
    embedding_dim: int = option(128, "Word embedding size (must match pretrained_vectors if given).", min=1)
    pretrained_vectors: str | None = option(None, "GloVe/word2vec text file of word vectors (null: random "
                                            "initialisation).")
    vectors_encoding: str = option("utf-8", "Encoding of the pretrained vectors file.")
    trainable_embeddings: bool = option(True, "Fine-tune the embeddings (false: keep them frozen).")
    embedding_dropout: float = option(0.0, "Dropout on the word embeddings.", min=0.0, max=0.9)
    rnn: RNNConfig = section(RNNConfig, "Recurrent encoder.")
    pooling: str = option("last", "How the sequence becomes one vector: the RNN's final state (last), "
                          "max, mean, both side by side (max_mean: ULMFiT's concat pooling) or attention "
                          "pooling over its outputs.", choices=list(POOLING_MODES))
    attention_units: int = option(64, "Hidden size of the attention scorer (pooling: attention).", min=1)
    ngrams: int = option(0, "N-gram path: 0 off; n: NBSVM (a logistic regression on the whole text's binary word "
                         "1..n-grams scaled by their naive-Bayes log-count ratios) is fitted on the training "
                         "split and carried in the model; after the recurrent path has trained, the two "
                         "paths' logits are blended by weights fitted on the validation split. Pays most on "
                         "documents, where such n-grams beat a recurrent model alone; every split's metrics "
                         "then also show each path alone.", min=0, max=3)
    ngram_max_tokens: int = option(1_000_000, "How many of the most frequent training n-grams the n-gram path "
                                   "keeps (model.ngrams > 0); each costs two weights per class.", min=2)
    char_ngrams: list[int] = option([], "[min, max]: the n-gram path also reads the character min..max-grams "
                                    "of each word padded by a space (scikit-learn's char_wb), so a word it "
                                    "never saw in training still shares its stem's features; the "
                                    "model.ngram_max_tokens most frequent are kept beside the word n-grams "
                                    "([]: word n-grams only).", min=1, max=10)
    hidden_units: int = option(0, "Optional dense ReLU layer before the classifier (0: none).", min=0)
    dropout: float = option(0.3, "Dropout before the classifier.", min=0.0, max=0.9)
    class_weights: str = option("none", "Weight the loss by inverse class frequency (balanced) for "
                                "imbalanced data.", choices=["none", "balanced"])

    def validate(self):
        super().validate()
        if not self.ngrams:
            ignored_options(self, ["ngram_max_tokens", "char_ngrams"], "model.ngrams is 0 (no n-gram path)",
                            prefix="model")
        if self.char_ngrams and (len(self.char_ngrams) != 2 or self.char_ngrams[0] > self.char_ngrams[1]):
            raise ConfigError(f"config key 'model.char_ngrams': expected [min, max] with min <= max, e.g. "
                              f"[2, 5], got {self.char_ngrams[:10]}")
