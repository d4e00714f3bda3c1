"""Sentiment task end to end: tiny train -> metrics -> export -> raw strings in a fresh process -> predict."""
import csv
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError, DataError
from common.io import read_json
from tasks.sentiment import TASK

TINY = {"train.epochs": 1, "train.verbose": "none", "train.tensorboard": False,
        "model.rnn.units": 8, "model.embedding_dim": 8, "model.attention_units": 8}
LONG_TEXT = ("the acting was tedious" + " and the script was dull" * 400)


def load(overrides=None, **values):
    """The demo config with dotted-key values applied (validated like the CLI does)."""
    config = lifecycle.load_config(TASK, TASK.demo_config_path, [f"{k}={v}" for k, v in (overrides or {}).items()])
    return cfg.with_values(config, values) if values else config


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentiment")
    overrides = TASK.demo.make_data(folder / "data", seed=0)
    config = cfg.with_values(load(), {**overrides, **TINY})
    run, doc = lifecycle.train(TASK, config, folder / "run", log=lambda *_: None)
    return config, run, doc, folder


# ---- end to end ------------------------------------------------------------------------------

def test_metrics_have_accuracy_per_class_confusion_auc_and_baselines(trained):
    _, run, _, _ = trained
    doc = read_json(run.metrics_path)
    test = doc["test"]
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "roc_auc"):
        assert 0.0 <= test[key] <= 1.0, key
    assert set(test["per_class"]) == {"negative", "positive"}
    assert sum(sum(row.values()) for row in test["confusion_matrix"].values()) == test["examples"]
    assert set(doc["baselines"]) == {"majority", "tfidf_logreg"}
    assert (run.plots_dir / "confusion_matrix_test.png").exists()
    assert "| accuracy |" in run.report_path.read_text()


def test_the_label_set_and_vocabulary_are_saved_with_the_run(trained):
    _, run, _, _ = trained
    state = read_json(run.state_path)
    assert state["labels"] == ["negative", "positive"]
    assert state["vocabulary"][:2] == ["", "[UNK]"]


def test_model_keras_reloads_and_predicts_the_same(trained):
    config, run, _, _ = trained
    _, _, state, model = lifecycle.load_run(TASK, run.path)
    reloaded = keras.saving.load_model(str(run.model_path), compile=False)
    texts = ["the film was great", "", LONG_TEXT]
    np.testing.assert_allclose(TASK.predict_probabilities(model, texts),
                               TASK.predict_probabilities(reloaded, texts), atol=1e-6)


def test_export_serves_raw_strings_with_only_tensorflow_imported(trained, tmp_path):
    _, run, _, _ = trained
    script = textwrap.dedent(f"""
        import json, sys, tensorflow as tf
        fn = tf.saved_model.load({str(run.export_dir)!r}).signatures["serving_default"]
        out = fn(text=tf.constant(["the film was wonderful", "", {LONG_TEXT!r}]))
        assert not [m for m in sys.modules if m.split(".")[0] in ("common", "tasks")]
        print(json.dumps({{"label": [s.decode() for s in out["label"].numpy()],
                          "label_id": out["label_id"].numpy().tolist(),
                          "probabilities": out["probabilities"].numpy().tolist(),
                          "dtypes": [out[k].dtype.name for k in ("label", "label_id", "probabilities")]}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["dtypes"] == ["string", "int32", "float32"]
    assert len(out["label"]) == 3 and set(out["label"]) <= {"negative", "positive"}
    probabilities = np.array(out["probabilities"])
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert [["negative", "positive"][i] for i in out["label_id"]] == out["label"]


def test_predict_writes_one_row_per_input_line_with_label_and_probability(trained):
    config, run, _, folder = trained
    source = folder / "in.txt"
    source.write_text("the film was wonderful\n\n" + LONG_TEXT + "\n", encoding="utf-8")
    summary = lifecycle.predict(TASK, run.path, source, folder / "out.csv")
    with open(folder / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["text"] for r in rows] == ["the film was wonderful", "", LONG_TEXT]
    assert all(r["label"] in ("negative", "positive") and 0.5 <= float(r["probability"]) <= 1 for r in rows)
    assert summary["texts"] == 3 and summary["empty texts"] == 1


def test_predict_reads_the_text_column_of_a_csv(trained):
    _, run, _, folder = trained
    source = write_csv(folder / "in.csv", [["1", "the plot was dull"]], header=("id", "text"))
    lifecycle.predict(TASK, run.path, source, folder / "out2.csv")
    assert (folder / "out2.csv").read_text(encoding="utf-8").count("\n") == 2


# ---- model options (built, not trained) ------------------------------------------------------

def tiny_prepared(tmp_path, **values):
    path = write_csv(tmp_path / "d.csv", [[f"good film {i}", "pos"] for i in range(10)] +
                     [[f"bad film {i}", "neg"] for i in range(10)])
    config = load(**{"data.path": path, **TINY, **values})
    return config, TASK.prepare(config)


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "attention"])
def test_every_pooling_builds_and_handles_empty_and_long_strings(tmp_path, pooling):
    config, prepared = tiny_prepared(tmp_path, **{"model.pooling": pooling})
    model = TASK.build_model(config, prepared)
    probs = TASK.predict_probabilities(model, ["", "", LONG_TEXT])
    assert probs.shape == (3, 2) and np.all(np.isfinite(probs))


def test_pretrained_vectors_initialise_the_embedding_and_can_be_frozen(tmp_path):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("good 1 2 3 4 5 6 7 8\nfilm 8 7 6 5 4 3 2 1\n", encoding="utf-8")
    config, prepared = tiny_prepared(tmp_path, **{"model.pretrained_vectors": str(vectors),
                                                  "model.trainable_embeddings": False})
    model = TASK.build_model(config, prepared)
    embedding = model.get_layer("embedding")
    row = prepared.state["vocabulary"].index("good")
    np.testing.assert_allclose(embedding.get_weights()[0][row], [1, 2, 3, 4, 5, 6, 7, 8])
    assert not embedding.trainable
    assert "2 of" in prepared.info["pretrained vectors"]


def test_balanced_class_weights_reach_the_training_batches(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"]] * 30 + [["bad", "neg"]] * 10)
    config = load(**{"data.path": path, "model.class_weights": "balanced", "data.val_fraction": 0.25,
                     "data.test_fraction": 0.25})
    texts, ids, weights = next(iter(TASK.prepare(config).train.unbatch().batch(100)))
    weights, ids = weights.numpy(), ids.numpy()
    assert weights[ids == 0][0] == pytest.approx(3 * weights[ids == 1][0])  # neg is 3x rarer


# ---- bad input -------------------------------------------------------------------------------

def test_a_test_label_unseen_in_training_is_named(tmp_path):
    train = write_csv(tmp_path / "train.csv", [["good", "pos"], ["bad", "neg"]] * 5)
    test = write_csv(tmp_path / "test.csv", [["meh", "neutral"]])
    config = load(**{"data.path": train, "data.test": test, "data.val_fraction": 0.2})
    with pytest.raises(DataError, match=r"test.csv:2: label 'neutral' in the test data never occurs in "
                                        r"the training data \(known: neg, pos\)"):
        TASK.prepare(config)


def test_empty_texts_are_dropped_with_a_counted_warning(tmp_path, capsys):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"], ["bad", "neg"]] * 10 + [["", "pos"]] * 3)
    prepared = TASK.prepare(load(**{"data.path": path, "data.val_fraction": 0.2, "data.test_fraction": 0.2}))
    assert "dropped" in capsys.readouterr().err
    assert sum(prepared.extra["arrays"][s][0].__len__() for s in ("train", "val", "test")) == 20


def test_empty_texts_can_be_an_error_instead(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"], ["bad", "neg"]] * 10 + [["  ", "pos"]])
    config = load(**{"data.path": path, "data.empty_texts": "error"})
    with pytest.raises(DataError, match=r"d.csv:22: empty text in the \w+ data \(1 in all\)"):
        TASK.prepare(config)


def test_a_single_training_label_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["good", "pos"]] * 10)
    with pytest.raises(DataError, match="a single label"):
        TASK.prepare(load(**{"data.path": path}))


@pytest.mark.parametrize("overrides, message", [
    ({"data.format": "label_files", "data.path": "r.{label}"}, "data.label_names': format label_files"),
    ({"data.format": "label_files", "data.label_names": "[a, b]", "data.path": "r.pos"},
     "must contain {label}"),
    ({"data.folds": 5, "data.fold": 5}, "data.fold': must be < data.folds"),
    ({"model.pooling": "median"}, "'median' is not allowed; choose one of last, max, mean, attention"),
])
def test_bad_config_is_refused_with_the_key_named(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")
                       .replace("(", r"\(").replace("[", r"\[")):
        load(overrides)


# ---- real data (skips when the benchmark folder is absent) -----------------------------------

def test_rt_polarity_cp1252_label_files_train_end_to_end(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "sentiment_rt_polarity.yaml")
    config = cfg.with_values(config, {**TINY, "data.max_examples": 200})
    prepared = TASK.prepare(config)
    assert prepared.state["labels"] == ["neg", "pos"]
    _, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert 0.0 <= doc["test"]["accuracy"] <= 1.0 and doc["test"]["examples"] == 200


def test_sst2_layout_uses_dev_as_test_and_carves_val_from_train(shared_data, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "sentiment_sst2.yaml",
                                   ["data.max_examples=2000"])
    prepared = TASK.prepare(config)
    assert prepared.state["labels"] == ["0", "1"]
    test_texts = prepared.extra["arrays"]["test"][0]
    assert test_texts[0].startswith("it 's a charming and often affecting journey")  # dev.tsv's first row
    assert len(prepared.extra["arrays"]["val"][0]) == 2000  # 5% of 67,349 train rows, capped
