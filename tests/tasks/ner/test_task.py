"""The ner task end to end: a tiny run trains, evaluates, exports and predicts through the lifecycle."""
import json
import subprocess
import sys

import pytest

from common import lifecycle
from tasks.ner import TASK
from tests.tasks.ner.helpers import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner")
    config = tiny_config(folder)
    run, doc = lifecycle.train(TASK, config, folder / "run")
    return folder, config, run, doc


def test_training_writes_metrics_predictions_and_export(trained):
    folder, config, run, doc = trained
    for key in ("f1", "precision", "recall", "strict_f1", "token_accuracy"):
        assert 0.0 <= doc["test"][key] <= 1.0
    assert set(doc["test"]["per_type"]) <= {"PER", "LOC", "ORG", "MISC"}
    assert "most_frequent_tag" in doc["baselines"]
    first = (run.path / "predictions_test.conll").read_text().split("\n")[0].split()
    assert len(first) == 3  # token gold predicted
    assert (run.export_dir / "saved_model.pb").exists()


def test_export_serves_raw_tokens_in_a_process_with_only_tensorflow(trained):
    folder, config, run, _ = trained
    script = f"""
import json, tensorflow as tf
m = tf.saved_model.load({str(run.export_dir)!r})
tags = m.signatures["serving_default"](tokens=tf.constant([["Maria", "Garcia", "visited", "Paris"],
                                                          ["Hi", "", "", ""]]))["tags"]
out = m.signatures["sentences"](sentences=tf.constant(["Maria Garcia visited Paris", "Hi", ""]))
print(json.dumps([tags.numpy().astype(str).tolist(), out["tags"].numpy().astype(str).tolist()]))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    padded, split = json.loads(result.stdout.strip().splitlines()[-1])
    assert padded[1][1:] == ["", "", ""] and all(t for t in padded[0])
    assert split[0] == padded[0] and split[1][0] == padded[1][0] and split[2] == ["", "", "", ""]
    assert all(t == "O" or t[:2] in ("B-", "I-") for t in padded[0])  # the data's scheme (IOB2)


def test_predict_writes_conll_and_entities(trained):
    folder, config, run, _ = trained
    source = TASK.demo.predict_input(config, folder / "in")
    summary = lifecycle.predict(TASK, run.path, source, folder / "out" / "pred.conll")
    assert summary["sentences"] == 4 and summary["input format"] == "text"
    blocks = (folder / "out" / "pred.conll").read_text().strip().split("\n\n")
    assert len(blocks) == 4 and blocks[0].split("\n")[0].split()[0] == "Maria"
    lines = (folder / "out" / "pred.entities.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "entities" in json.loads(lines[0])


def test_predict_accepts_conll_input_and_echoes_its_columns(trained):
    folder, config, run, _ = trained
    source = folder / "data" / "ner_test.txt"
    summary = lifecycle.predict(TASK, run.path, source, folder / "out2" / "test.conll")
    assert summary["input format"] == "conll"
    first = (folder / "out2" / "test.conll").read_text().split("\n")[0].split()
    assert len(first) == 5  # word POS chunk gold + predicted

