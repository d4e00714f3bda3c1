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
from common.io import read_json
from tasks.sentiment import TASK
from tasks.sentiment.model import predict_probabilities
from tests.tasks.sentiment.helpers import LONG_TEXT, TINY, load, write_csv


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
    np.testing.assert_allclose(predict_probabilities(model, texts),
                               predict_probabilities(reloaded, texts), atol=1e-6)


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
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
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


# ---- real data (skips when the benchmark folder is absent) -----------------------------------

def test_rt_polarity_cp1252_label_files_train_end_to_end(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "sentiment_rt_polarity.yaml")
    config = cfg.with_values(config, {**TINY, "data.max_examples": 200})
    prepared = TASK.prepare(config)
    assert prepared.state["labels"] == ["neg", "pos"]
    _, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert 0.0 <= doc["test"]["accuracy"] <= 1.0 and doc["test"]["examples"] == 200

