"""The NER task: config, data validation, in-graph features, and a tiny run end to end."""
import json
import subprocess
import sys

import numpy as np
import pytest

from common import lifecycle
from common.errors import ConfigError, DataError
from tasks.ner.task import TASK, Casing, WordDropout

TINY = ["train.epochs=1", "train.batch_size=16", "data.max_sentences=48", "model.word_dim=8",
        "model.char_dim=4", "model.char_units=4", "model.rnn.units=8", "train.verbose=none"]


def tiny_config(folder, *extra):
    overrides = TASK.demo.make_data(folder / "data")
    sets = [f"{k}={v}" for k, v in overrides.items()] + TINY + list(extra)
    return lifecycle.load_config(TASK, TASK.demo_config_path, sets)


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


def test_unknown_config_key_is_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'model.crf_decoding'.*Allowed keys here: .*constrained_decoding, crf,"):
        lifecycle.load_config(TASK, TASK.demo_config_path, ["model.crf_decoding=true"])


def test_unknown_scheme_lists_choices(tmp_path):
    with pytest.raises(ConfigError, match="'bilou' is not allowed; choose one of iob1, iob2, bioes"):
        lifecycle.load_config(TASK, TASK.demo_config_path, ["data.scheme=bilou"])


def test_entity_type_unseen_in_training_is_an_error_naming_the_line(tmp_path):
    config = tiny_config(tmp_path)
    test = tmp_path / "data" / "ner_test.txt"
    test.write_text("Acme - - B-PRODUCT\n\n" + test.read_text())
    with pytest.raises(DataError, match=r"test.txt:1: tag 'B-PRODUCT': its entity type never occurs"):
        TASK.prepare(config)


def test_tag_outside_the_scheme_is_an_error(tmp_path):
    config = tiny_config(tmp_path)
    train = tmp_path / "data" / "ner_train.txt"
    train.write_text(train.read_text().replace("B-PER", "S-PER", 1))
    with pytest.raises(DataError, match="tag 'S-PER' is not valid in scheme iob2"):
        TASK.prepare(config)


def test_casing_classes():
    ids = np.asarray(Casing()(np.array([["EU", "Smith", "1996", "rejects", ",", "iPhone3", ""]])))[0]
    # all_upper, initial_upper, numeric, lower, other, has_digit, padding
    assert ids.tolist() == [3, 4, 2, 6, 1, 5, 0]


def test_word_dropout_acts_only_in_training_and_spares_padding():
    layer = WordDropout(0.9, seed=1)
    ids = np.array([[5, 6, 7, 8, 0, 0]])
    assert np.array_equal(np.asarray(layer(ids, training=False)), ids)
    dropped = np.asarray(layer(ids, training=True))
    assert set(dropped[0, :4]) <= {1, 5, 6, 7, 8} and (dropped[0, 4:] == 0).all() and (dropped == 1).any()


def test_conll2003_loads_and_trains_one_epoch_on_a_subset(shared_data, tmp_path):
    sets = [f"{k}={v}" for k, v in {"data.train": shared_data / "conll2003" / "train.txt",
                                    "data.val": shared_data / "conll2003" / "valid.txt",
                                    "data.test": shared_data / "conll2003" / "test.txt"}.items()]
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "ner_conll2003.yaml",
                                   sets + TINY + ["data.max_sentences=64", "model.char_encoder=cnn"])
    prepared = TASK.prepare(config)
    assert prepared.state["tags"][0] == "O" and {"B-PER", "S-LOC", "E-ORG", "I-MISC"} <= set(prepared.state["tags"])
    assert prepared.info["train data"].startswith("64 sentences")
    model = TASK.build_model(config, prepared)
    model.compile(optimizer="adam", **TASK.compile_args(config, prepared))
    history = model.fit(prepared.train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_pretrained_vectors_initialise_the_word_embedding(tmp_path):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("visited 0.1 0.2 0.3\nnever-seen 1 1 1\n")
    config = tiny_config(tmp_path, f"model.pretrained_vectors={vectors}", "model.word_dim=3")
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    row = prepared.state["vocabulary"].index("visited") + 2  # 0: padding, 1: unknown word
    np.testing.assert_allclose(model.get_layer("word_embedding").embeddings.numpy()[row], [0.1, 0.2, 0.3])
    assert prepared.info["pretrained vectors"].endswith(f"1 of {len(prepared.state['vocabulary'])} words found")


def test_softmax_output_trains_and_ignores_padding(tmp_path):
    config = tiny_config(tmp_path, "model.crf=false", "model.char_encoder=cnn", "data.max_sentences=16")
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    model.compile(optimizer="adam", **TASK.compile_args(config, prepared))
    tokens, tags = next(iter(prepared.val))
    assert (tags.numpy() == -1).any()  # the batch has padding, which the loss must skip
    assert np.isfinite(model.train_on_batch(tokens, tags))
    from tasks.ner import predict_tags

    sentences = [s.tokens for s in prepared.extra["sentences"]["val"][:3]]
    predicted = predict_tags(model, config, prepared.state["tags"], sentences)
    assert [len(p) for p in predicted] == [len(s) for s in sentences]
