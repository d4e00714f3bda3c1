"""The ner task end to end: a tiny run trains, evaluates, exports and predicts through the lifecycle."""
import json

import numpy as np
import pytest

from common import lifecycle
from tasks.ner import TASK
from tests.harness import serve_calls_in_fresh_process, serve_in_fresh_process
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


def test_export_serves_raw_tokens_in_a_process_with_only_tensorflow(trained, tmp_path):
    folder, config, run, _ = trained
    tokens = np.array([["Maria", "Garcia", "visited", "Paris"], ["Hi", "", "", ""]])
    padded = serve_in_fresh_process(run.export_dir, {"tokens": tokens}, tmp_path)["tags"].tolist()
    sentences = np.array(["Maria Garcia  visited Paris", "Hi"])
    split = serve_in_fresh_process(run.export_dir, {"sentences": sentences}, tmp_path, signature="sentences")
    assert padded[1][1:] == ["", "", ""] and all(t for t in padded[0])
    assert split["tokens"].tolist() == ["Maria Garcia visited Paris", "Hi"]
    assert [t.split(" ") for t in split["tags"].tolist()] == [padded[0], padded[1][:1]]
    assert all(t == "O" or t[:2] in ("B-", "I-") for t in padded[0])  # the data's scheme (IOB2)


def test_an_empty_sentence_in_a_batch_gets_no_tags_and_the_others_theirs(trained, tmp_path):
    """One string per sentence comes back, so an empty sentence has zero tags, not the batch's padding."""
    folder, config, run, _ = trained
    sentence = ["EU", "rejects", "German", "call"]
    alone, batch = serve_calls_in_fresh_process(
        run.export_dir, [("serving_default", {"tokens": np.array([sentence])}),
                         ("sentences", {"sentences": np.array(["", " ".join(sentence), "  "])})], tmp_path)
    assert batch["tokens"].tolist() == ["", "EU rejects German call", ""]
    assert batch["tags"][0] == "" and batch["tags"][2] == ""
    assert batch["tags"][1].split(" ") == alone["tags"][0].tolist() and all(alone["tags"][0])


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

