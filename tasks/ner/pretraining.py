"""Language-model pretraining for the tagger: the text the language models read, as the tagger looks words up.

The mechanism is shared with sentiment in `common.pretrained`; this module only says how ner data
becomes LM lines: each training sentence's tokens joined by spaces (extra text is taken as already
tokenized, e.g. Penn Treebank), lower-cased with the model's own op when ``model.lowercase`` is set; the
val and test sentences, joined the same way, are what the extra text may not contain (`common.data.leakage`).
"""
from __future__ import annotations

import tensorflow as tf

from common.pretrained.recipe import with_encoder
from tasks.ner.data import UNKNOWN, NERPrepared
from tasks.ner.layers import PAD


def lowercase(texts: list[str]) -> list[str]:
    """The `Lowercase` layer's op (Unicode-aware), so LM words and vocabulary lookups agree."""
    if not texts:
        return []
    lowered = tf.strings.lower(tf.constant(texts), encoding="utf-8").numpy().tolist()
    return [t.decode("utf-8") for t in lowered]


def with_pretrained_encoder(config, prepared: NERPrepared, state_given: bool) -> NERPrepared:
    return with_encoder(config, prepared, state_given, "ner", [PAD, UNKNOWN] + prepared.state["vocabulary"],
                        [" ".join(s.tokens) for s in prepared.sentences["train"]],
                        lowercase if config.model.lowercase else list,
                        evaluation_texts={split: [" ".join(s.tokens) for s in prepared.sentences[split]]
                                          for split in ("val", "test")})
