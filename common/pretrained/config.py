"""The model-config keys of a task whose embedding and recurrent encoder can start from language models.

`PretrainedEncoderOptions` is what the task's model config inherits (the language-model runs, how the
task uses them, the fine-tuning schedule); `PretrainingConfig` is its ``model.pretraining`` section, the
recipe that trains those language models first (`common.pretrained.recipe`).
"""
from __future__ import annotations

from dataclasses import dataclass

from common.config import option, section
from common.errors import ConfigError

FINE_TUNE = ("gradual", "frozen", "all")
PRETRAINED_AS = ("init", "features")


@dataclass
class PretrainingConfig:
    enabled: bool = option(False, "Train forward (and, for a bidirectional encoder, backward) language "
                           "models first, on the training texts plus extra_text, and start from them.")
    extra_text: list[str] = option([], "Unlabelled text files added to the training texts: plain text "
                                   "(one text per line), or CSV / TSV / JSON Lines (told by the suffix: "
                                   ".csv, .tsv, .jsonl; .gz read too) whose text_column holds the text, "
                                   "e.g. imdb/train.csv.gz. Never the task's val or test data: lines that "
                                   "are its val/test texts are refused (leakage_tolerance).")
    text_column: str = option("text", "Column (CSV/TSV header) or key (JSON Lines) of the extra_text files "
                              "that holds the text; plain text files have none.")
    encoding: str = option("utf-8", "Text encoding of the extra_text files.")
    leakage_tolerance: float = option(0.001, "Share of the run's distinct val + test texts that may also "
                                      "be lines of extra_text (case, spacing and punctuation ignored) "
                                      "before the recipe refuses it; a tolerated few (a generic sentence "
                                      "such as 'he gave no further details' recurs in large corpora) are "
                                      "warned about (0: refuse any).", min=0.0, max=1.0)
    epochs: int = option(5, "Language-model training epochs.", min=1)
    in_domain_epochs: int = option(0, "ULMFiT's second stage: after the first (the training texts plus "
                                   "extra_text), the language models train this many more epochs on the "
                                   "training texts alone, so they end on the task's own text (0: no second "
                                   "stage). Needs extra_text.", min=0)
    batch_size: int = option(32, "Parallel streams of the language model.", min=1)
    bptt: int = option(35, "Language-model window length in tokens.", min=2)
    learning_rate: float = option(0.002, "Language-model learning rate.", positive=True)
    dropout: float = option(0.2, "Dropout between the language model's recurrent layers.", min=0.0, max=0.9)
    max_tokens: int = option(30000, "Language-model vocabulary cap (most frequent words).", min=3)
    sampled_softmax: int = option(0, "Train the language models against this many sampled words instead of "
                                  "the whole vocabulary (the language-model task's model.sampled_softmax), "
                                  "so a wider encoder fits the same time (0: the full softmax).", min=0)
    val_fraction: float = option(0.05, "Share of the pretraining text (its end) used for early stopping.",
                                 min=0.01, max=0.5)
    run_dir: str | None = option(None, "Where the language-model runs go (null: pretrained_lm/ in the "
                                 "run folder, as --run-dir gives it).")


@dataclass
class PretrainedEncoderOptions:
    """Model-config keys of a task whose embedding and recurrent encoder can start from language models."""

    pretrained_encoder: str | None = option(None, "Language-model run folder (forward), or a folder with "
                                            "forward/ and backward/ runs: the embedding and recurrent "
                                            "encoder start from it (null: random).")
    pretrained_encoder_backward: str | None = option(None, "Backward language-model run "
                                                     "(data.direction: backward) for the backward half of a "
                                                     "bidirectional encoder.")
    pretraining: PretrainingConfig = section(PretrainingConfig, "Pretrain the language models first.")
    pretrained_as: str = option("init", "How the task uses the language models: init (ULMFiT: its embedding "
                                "and recurrent encoder start from them and fine-tune) or features (ELMo / "
                                "TagLM: they run frozen, and the task's own randomly started encoder reads "
                                "their states beside its word embedding, so fine-tuning cannot wash out "
                                "what they learnt and their shape may differ from the encoder's).",
                                choices=list(PRETRAINED_AS))
    fine_tune: str = option("all", "Pretrained layers: gradual (ULMFiT: the new layers first, then one "
                            "more pretrained layer from the top each epoch), frozen (never trained) or all "
                            "(trained from the start).", choices=list(FINE_TUNE))
    lr_factor: float = option(1.0, "Discriminative learning rates: each pretrained layer down the stack "
                              "learns this many times slower than the one above (1: same rate).", min=1.0)
    warmup_epochs: float = option(0.0, "Linear learning-rate warm-up over this many epochs with a pretrained "
                                  "encoder (0: none).", min=0.0)

    def validate(self):
        if self.pretraining.enabled and self.pretrained_encoder:
            raise ConfigError("config key 'model.pretraining.enabled': it trains a new language model; "
                              "remove model.pretrained_encoder, or set model.pretraining.enabled: false")
        if self.pretrained_encoder_backward and not self.pretrained_encoder:
            raise ConfigError("config key 'model.pretrained_encoder_backward' needs model.pretrained_encoder "
                              "(the forward language model)")
        if self.pretraining.in_domain_epochs and not self.pretraining.extra_text:
            raise ConfigError("config key 'model.pretraining.in_domain_epochs': without extra_text the first "
                              "stage already reads the training texts alone; add extra_text or set it to 0")
        if self.pretrained_as == "features" and (self.fine_tune != "all" or self.lr_factor != 1.0):
            raise ConfigError("config key 'model.fine_tune' / 'model.lr_factor': with model.pretrained_as: "
                              "features the language models stay frozen and the encoder starts random; "
                              "leave fine_tune: all and lr_factor: 1")
        if getattr(self, "pretrained_vectors", None) and self.uses_pretrained_encoder:
            raise ConfigError("config key 'model.pretrained_vectors': the embedding comes from the language "
                              "model; remove model.pretrained_vectors or the pretrained encoder")

    @property
    def uses_pretrained_encoder(self) -> bool:
        return bool(self.pretrained_encoder or self.pretraining.enabled)

