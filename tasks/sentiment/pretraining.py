"""Language-model pretraining for the classifier: the text the language models read, as the model reads it.

The mechanism (reading LM runs, mapping vocabularies, copying weights, the fine-tuning schedule) is
shared with ner in `common.pretrained`; this module only says how sentiment texts become LM lines:
the optional NLTK tokenizer (extra text only: training texts already went through it) and then the
``TextVectorization`` standardization, done with the same TensorFlow ops so words match the vocabulary;
and which texts the extra text may not contain (the val and test texts, `common.data.leakage`).
"""
from __future__ import annotations

import tensorflow as tf

from common.pretrained.recipe import with_encoder
from tasks.sentiment.dataset import SentimentPrepared, tokenize_fn
from tasks.sentiment.standardize import lower_and_split_punctuation

# keras.layers.TextVectorization's punctuation pattern for "strip_punctuation" (DEFAULT_STRIP_REGEX)
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


def standardiser(mode: str):
    """``texts -> texts`` as TextVectorization's ``standardize`` mode leaves them before splitting."""

    def standardise(texts: list[str]) -> list[str]:
        if mode == "none" or not texts:
            return list(texts)
        x = tf.constant(texts, dtype=tf.string)
        if mode == "lower_and_split_punctuation":
            x = lower_and_split_punctuation(x)
        if mode in ("lower", "lower_and_strip_punctuation"):
            x = tf.strings.lower(x)
        if mode in ("strip_punctuation", "lower_and_strip_punctuation"):
            x = tf.strings.regex_replace(x, STRIP_PUNCTUATION, "")
        return [t.decode("utf-8") for t in x.numpy().tolist()]

    return standardise


def with_pretrained_encoder(config, prepared: SentimentPrepared, state_given: bool) -> SentimentPrepared:
    return with_encoder(config, prepared, state_given, "sentiment", prepared.state["vocabulary"],
                        prepared.texts["train"], standardiser(config.model.standardize),
                        tokenize_fn(config.data.tokenizer),
                        evaluation_texts={split: prepared.texts[split] for split in ("val", "test")})
