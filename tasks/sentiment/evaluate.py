"""Scoring a trained classifier on a split: metrics (with ``model.ngrams``, also each path's alone),
confusion matrix, attention heatmaps and a predictions CSV (the baselines it is compared with are in
`baselines`)."""
from __future__ import annotations

import csv

import keras
import numpy as np
import tensorflow as tf
from scipy.special import softmax

from common.io import atomic_path
from common.metrics.classification import classification_metrics, confusion_array
from common.plots import save_attention_heatmap, save_confusion_matrix
from tasks.sentiment.baselines import scalars
from tasks.sentiment.dataset import SentimentPrepared
from tasks.sentiment.model import predict_probabilities
from tasks.sentiment.ngrams import PATHS, path_logits


def evaluate_split(model, config, prepared: SentimentPrepared, split: str, run) -> dict:
    texts, ids = prepared.texts[split], prepared.label_ids[split]
    labels = prepared.state["labels"]
    if config.model.ngrams:  # one pass gives each path's logits; the model's output is their blend
        logits = path_logits(model, texts)
        probabilities = blended_probabilities(model, logits)
    else:
        probabilities = predict_probabilities(model, texts, config.train.batch_size)
    predicted = probabilities.argmax(axis=1)
    metrics = classification_metrics(ids, predicted, labels, probabilities)
    metrics["examples"] = len(texts)
    if config.model.ngrams:  # each path alone, so a run shows whether the recurrent path earns its cost
        metrics["paths"] = {name: scalars(classification_metrics(ids, z.argmax(1), labels, softmax(z, axis=1)))
                            for name, z in zip(PATHS, logits)}
    save_confusion_matrix(confusion_array(metrics["confusion_matrix"], labels), labels,
                          run.plots_dir / f"confusion_matrix_{split}.png",
                          title=f"Confusion matrix ({split})")
    if config.model.pooling == "attention":
        plot_attention(model, prepared.state["vocabulary"], texts, run.plots_dir, split)
    with atomic_path(run.path / f"predictions_{split}.csv") as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "predicted", "probability"])
        for text, true, guess, probs in zip(texts, ids, predicted, probabilities):
            writer.writerow([text, labels[true], labels[guess], f"{probs[guess]:.4f}"])
    return metrics


def blended_probabilities(model, logits: list) -> np.ndarray:
    """What the model outputs, computed from its paths' logits (`path_logits`) and its blend weights: the
    model is not run a second time (on IMDB's 25,000 test reviews that pass took 40 s)."""
    weights = keras.ops.convert_to_numpy(model.get_layer("blend").blend_weights)
    return softmax(sum(w * z for w, z in zip(weights, logits)), axis=1).astype("float32")


def plot_attention(model, vocabulary, texts, folder, split, examples=3):
    """Heatmaps of the attention pooling weights over the tokens of a few short texts."""
    pooling = model.get_layer("pooling")
    features = keras.Model(model.input, [model.get_layer("recurrent").output, model.get_layer("clip").output])
    chosen = [t for t in texts if 3 <= len(t.split()) <= 25][:examples]
    for i, text in enumerate(chosen):
        states, ids = features(tf.constant([text]), training=False)
        ids = keras.ops.convert_to_numpy(ids)[0]
        weights = keras.ops.convert_to_numpy(pooling.attention_weights(states, ids[None, :] != 0))[0]
        valid = ids != 0
        save_attention_heatmap(weights[valid][None, :], [vocabulary[j] for j in ids[valid]], ["weight"],
                               folder / f"attention_{split}_{i}.png", title="Attention pooling weights")
