"""Scoring the tagger: entity F1 on a split (with a conlleval-ready predictions file), the val-F1
callback early stopping watches, and the most-frequent-tag baseline."""
from __future__ import annotations

from collections import Counter

import keras

from common.metrics.tagging import OUTSIDE, convert, tagging_metrics
from tasks.ner.data import NERPrepared
from tasks.ner.model import predict_tags
from tasks.ner.tags import write_conll


class ValF1(keras.callbacks.Callback):
    """Adds ``val_f1`` (entity F1, conlleval-compatible, decoded like at test time) to the epoch logs,
    for early stopping: the loss is a poor proxy for entity F1."""

    def __init__(self, config, tags, sentences):
        super().__init__()
        self.config, self.tags = config, tags
        self.tokens = [s.tokens for s in sentences]
        self.gold = [s.tags for s in sentences]

    def on_epoch_end(self, epoch, logs=None):
        pred = predict_tags(self.model, self.config, self.tags, self.tokens)
        f1 = tagging_metrics(self.gold, pred, self.config.model.tag_scheme)["f1"]
        if logs is not None:
            logs["val_f1"] = f1


def evaluate_split(model, config, prepared: NERPrepared, split: str, run) -> dict:
    """Entity metrics on ``split``; writes ``predictions_<split>.conll`` (token gold predicted, in the
    data's scheme: conlleval's input)."""
    sentences = prepared.sentences[split]
    m = config.model
    pred = predict_tags(model, config, prepared.state["tags"], [s.tokens for s in sentences],
                        config.train.batch_size)
    metrics = tagging_metrics([s.tags for s in sentences], pred, m.tag_scheme)
    metrics["sentences"] = len(sentences)
    metrics["tokens"] = sum(len(s.tokens) for s in sentences)
    rows = []
    for sentence, tags in zip(sentences, pred):
        out, _ = convert(tags, m.tag_scheme, config.data.scheme)
        rows.append([[tok, gold, guess] for tok, gold, guess in zip(sentence.tokens, sentence.raw_tags, out)])
    write_conll(run.path / f"predictions_{split}.conll", rows)
    return metrics


def most_frequent_tag(config, prepared: NERPrepared, split: str) -> dict:
    """Each token's most frequent training tag (O for unseen words), entity spans repaired like
    conlleval: the CoNLL-2003 shared task's baseline in spirit (known names tagged, nothing learned)."""
    scheme = config.model.tag_scheme
    by_word: dict[str, Counter] = {}
    for sentence in prepared.sentences["train"]:
        for token, tag in zip(sentence.tokens, convert(sentence.tags, scheme, "iob2")[0]):
            by_word.setdefault(token, Counter())[tag] += 1
    gold, pred = [], []
    for sentence in prepared.sentences[split]:
        guess = [by_word[t].most_common(1)[0][0] if t in by_word else OUTSIDE for t in sentence.tokens]
        gold.append(sentence.tags)
        pred.append(convert(guess, "iob2", scheme)[0])
    scores = tagging_metrics(gold, pred, scheme)
    return {k: v for k, v in scores.items() if isinstance(v, float)}
