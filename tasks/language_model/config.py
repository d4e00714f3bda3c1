"""The language-model task's ``data`` and ``model`` config sections, checked when the config is loaded.

Generation settings live in ``model.generation``: they describe how the trained
model is used (the report's sample, ``predict`` and the defaults the model card
documents for the serving inputs), not how it is trained.
"""
from __future__ import annotations

from dataclasses import dataclass

from common.config import BaseDataConfig, option, section
from common.data.checks import ignored_options
from common.errors import ConfigError
from common.layers.recurrent import RNNConfig

GRANULARITIES = ("word", "char")
DIRECTIONS = ("forward", "backward")
BATCHING = ("stream", "line")


@dataclass
class LanguageModelDataConfig(BaseDataConfig):
    granularity: str = option("word", "Tokens: word (whitespace-separated words, an <eos> after every line, "
                              "as in the PTB protocol) or char (every character, newlines included).",
                              choices=list(GRANULARITIES))
    encoding: str = option("utf-8", "Text encoding of the data files.")
    direction: str = option("forward", "forward: predict the next token; backward: read every split right to "
                            "left (lines in reverse order, each line's tokens reversed, its boundary token "
                            "still last) and predict the previous token, the backward half of a "
                            "bidirectional encoder (ELMo / TagLM); its generated text comes out reversed.",
                            choices=list(DIRECTIONS))
    val_fraction: float = option(0.1, "Share of data.path used for validation when data.val is not given: a "
                                 "contiguous piece after the training text (whole lines for word, characters "
                                 "for char).", min=0.0, max=0.9)
    test_fraction: float = option(0.1, "Share of data.path used for the test split (the end of the text) when "
                                  "data.test is not given; 0: no separate test split, the validation split is "
                                  "also the test split (nanoGPT's Tiny Shakespeare protocol).", min=0.0, max=0.9)
    min_freq: int = option(1, "Tokens seen fewer times in training become <unk>.", min=1)
    max_tokens: int | None = option(None, "Vocabulary size cap, including the padding, <unk> and <eos> "
                                    "entries (null: every token seen min_freq times).", min=3)
    batching: str = option("stream", "stream: the text is one token stream cut into train.batch_size parallel "
                           "streams walked in windows of data.bptt tokens, the recurrent state carried from "
                           "window to window (truncated BPTT; reset at epoch start); line: every line is an "
                           "independent example (state reset per batch, padded, masked loss).",
                           choices=list(BATCHING))
    bptt: int = option(35, "Window length in tokens (stream batching); lines are cut to this length in line "
                       "batching.", min=2)
    random_bptt: bool = option(False, "Move each window boundary by up to bptt/4 every epoch (AWD-LSTM's "
                               "random BPTT lengths), so no token is always at the same window position.")
    max_split_tokens: int | None = option(None, "Keep only the first N tokens of every split (quick checks; "
                                          "metrics are then not comparable with published ones).", min=2)

    def validate(self):
        super().validate()
        if self.path is not None and self.val is None and self.val_fraction == 0:
            raise ConfigError("config data: the val split is empty; give data.val or a positive data.val_fraction")
        if self.batching == "line":
            ignored_options(self, ["random_bptt"], "data.batching is line (every line is its own example: "
                            "there are no window boundaries to move)")
        for split in ("val", "test"):  # a split read from its own file is not carved out of data.path
            if getattr(self, split) is not None:
                ignored_options(self, [f"{split}_fraction"], f"data.{split} names the {split} file")


@dataclass
class GenerationConfig:
    max_tokens: int = option(40, "Tokens to generate after each prompt.", min=1)
    temperature: float = option(1.0, "Softmax temperature; 0 picks the most probable token (greedy).", min=0.0)
    top_k: int = option(0, "Sample only among the k most probable tokens (0: no limit; 1: greedy).", min=0)
    top_p: float = option(1.0, "Nucleus sampling: the smallest set of tokens holding this probability mass "
                          "(1: no limit).", positive=True, max=1.0)
    beam_width: int = option(1, "Beam search with this many beams when > 1 (deterministic; temperature, top_k "
                             "and top_p are then not used).", min=1)
    seed: int = option(0, "Sampling seed: the same prompt, settings and seed give the same text.", min=0)
    sample_prompt: str = option("", "Prompt of the sample written into the report after training (empty: the "
                                "first tokens of the split).")


@dataclass
class LanguageModelModelConfig:
    embedding_dim: int = option(128, "Token embedding size.", min=1)
    rnn: RNNConfig = section(RNNConfig, "Recurrent layers (rnn.dropout is the variational dropout between "
                             "them; bidirectional is not allowed: a language model reads left to right).")
    tie_embeddings: bool = option(False, "Use the embedding matrix, transposed, as the output layer "
                                  "(Press & Wolf 2017; a projection is added when rnn.units differs from "
                                  "embedding_dim).")
    sampled_softmax: int = option(0, "Train against this many words sampled from the vocabulary (log-uniform "
                                  "over frequency ranks, Jean et al. 2015) instead of all of them: the "
                                  "output layer's cost then no longer grows with the vocabulary, so wider "
                                  "recurrent layers fit the same time. Validation loss, perplexity and "
                                  "serving always use the full softmax. 0: the full softmax; must be "
                                  "smaller than the vocabulary.", min=0)
    embedding_dropout: float = option(0.0, "Drop whole token embeddings (each occurrence) with this "
                                      "probability in training.", min=0.0, max=0.9)
    output_dropout: float = option(0.0, "Variational (locked) dropout on the last recurrent outputs: one mask "
                                   "per sequence, the same at every step.", min=0.0, max=0.9)
    init_from: str | None = option(None, "A language-model run to start from: its vocabulary and weights, "
                                   "then training goes on on this config's text (ULMFiT's second stage: a "
                                   "general LM fine-tuned on in-domain text). Its embedding_dim, rnn cell, "
                                   "units, layers, layer_norm and tie_embeddings must be these.")
    generation: GenerationConfig = section(GenerationConfig, "Text generation (report sample, predict, and "
                                           "the documented serving defaults).")
