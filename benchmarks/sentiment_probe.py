"""Linear probe of a pretrained sentiment encoder: what the language models alone know about sentiment.

The classifier of ``--config`` is built with its embedding and recurrent encoder taken from
``model.pretrained_encoder`` (language-model runs, e.g. a recipe run's ``pretrained_lm/``) and is not
trained. Each text of the config's training and test splits becomes its max- and mean-pooled encoder
states (and, separately, pooled word embeddings); a logistic regression (scikit-learn) fits the
training split and is scored on the test split. Accuracy near the majority class means the frozen
features carry little sentiment, so any gain from pretraining comes from the starting point alone.
Without ``model.pretrained_encoder`` (and pretraining off) the encoder is the random start: the
reference that pretrained features have to beat.

    RNNSUITE_DATA=../shared/datasets python -m benchmarks.sentiment_probe \\
        --config configs/sentiment_rt_polarity_pretrained.yaml \\
        --set model.pretraining.enabled=false --set model.pretrained_encoder=runs/sentiment/<run>/pretrained_lm
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks._harness import command, write_json


def pooled(model, layer: str, texts: list[str], batch: int = 256) -> np.ndarray:
    """Max and mean over the real (non-padding) positions of ``layer``'s output, one row per text."""
    import keras

    view = keras.Model(model.input, [model.get_layer(layer).output, model.get_layer("clip").output])
    rows = []
    for start in range(0, len(texts), batch):
        states, ids = (t.numpy() for t in view(np.array(texts[start:start + batch], dtype=object)))
        real = (ids != 0)[..., None]
        top = np.where(real, states, -np.inf).max(axis=1)
        mean = (states * real).sum(axis=1) / np.maximum(real.sum(axis=1), 1)
        rows.append(np.concatenate([np.where(np.isfinite(top), top, 0.0), mean], axis=1))
    return np.concatenate(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="A sentiment config (its model.pretrained_encoder is probed).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Config overrides.")
    parser.add_argument("--c", type=float, action="append", help="Inverse regularisation strengths to try "
                        "(default 0.1 and 1).")
    parser.add_argument("--json", help="Write the results here.")
    args = parser.parse_args(argv)
    from sklearn.linear_model import LogisticRegression

    from common import lifecycle
    from common.registry import get_task

    task = get_task("sentiment")
    config = lifecycle.load_config(task, args.config, args.set)
    prepared = task.prepare(config)
    model = task.build_model(config, prepared)
    rows = []
    for layer in ("recurrent", "embedding"):
        train, test = (pooled(model, layer, prepared.texts[split]) for split in ("train", "test"))
        for c in args.c or [0.1, 1.0]:
            probe = LogisticRegression(C=c, max_iter=3000).fit(train, prepared.label_ids["train"])
            accuracy = float((probe.predict(test) == prepared.label_ids["test"]).mean())
            rows.append({"features": f"{layer} (max + mean pooled)", "C": c, "test_accuracy": round(accuracy, 4)})
            print(f"{rows[-1]['features']:<32} C={c:<5g} test accuracy {accuracy:.4f}")
    if args.json:
        write_json(args.json, {"command": command("benchmarks.sentiment_probe", argv), "rows": rows})


if __name__ == "__main__":
    main()
