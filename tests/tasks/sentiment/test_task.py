"""Sentiment task end to end: tiny train -> metrics -> export -> raw strings in a fresh process -> predict."""
import csv

import keras
import numpy as np
import pytest

from common import config as cfg
from common import lifecycle
from common.io import read_json
from tasks.sentiment import TASK
from tasks.sentiment.model import predict_probabilities
from tests.harness import serve_in_fresh_process
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
    assert set(doc["baselines"]) == {"majority", "tfidf_logreg", "nbsvm"}
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
    """Values, not only types: the SavedModel in a fresh process gives the Keras model's probabilities."""
    _, run, _, _ = trained
    _, _, _, model = lifecycle.load_run(TASK, run.path)
    texts = np.array(["the film was wonderful", "", LONG_TEXT])
    out = serve_in_fresh_process(run.export_dir, {"text": texts}, tmp_path)
    assert (out["label"].dtype.kind, out["label_id"].dtype, out["probabilities"].dtype) == ("U", "int32", "float32")
    np.testing.assert_allclose(out["probabilities"], predict_probabilities(model, texts.tolist()), atol=1e-5)
    assert out["label"].tolist() == [["negative", "positive"][i] for i in out["probabilities"].argmax(1)]


def test_a_5000_word_review_is_read_up_to_max_length_in_training_and_in_the_export(trained, tmp_path):
    """A document far over model.max_length is cut, not refused, and cut the same way by the Keras model
    and the SavedModel: both give a 5,000-word review the probabilities of its first max_length words."""
    config, run, _, _ = trained
    _, _, _, model = lifecycle.load_run(TASK, run.path)
    words = [("wonderful", "dreadful", "moving", "dull", "plot")[i % 5] for i in range(5000)]
    review, head = " ".join(words), " ".join(words[:config.model.max_length])
    expected = predict_probabilities(model, [head])
    np.testing.assert_allclose(predict_probabilities(model, [review]), expected, atol=1e-6)
    out = serve_in_fresh_process(run.export_dir, {"text": np.array([review, head])}, tmp_path)
    np.testing.assert_allclose(out["probabilities"], np.repeat(expected, 2, axis=0), atol=1e-5)
    assert not np.allclose(expected, predict_probabilities(model, [" ".join(words[:3])]), atol=1e-4)


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

@pytest.mark.slow
def test_rt_polarity_cp1252_label_files_train_end_to_end(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "sentiment_rt_polarity.yaml")
    config = cfg.with_values(config, {**TINY, "data.max_examples": 200})
    prepared = TASK.prepare(config)
    assert prepared.state["labels"] == ["neg", "pos"]
    _, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert 0.0 <= doc["test"]["accuracy"] <= 1.0 and doc["test"]["examples"] == 200

