"""Translation with data.granularity sentencepiece (issue #28): the vocabulary is fitted on the training
split, the graph tokenizes as the sentencepiece library does, the export serves raw strings in a fresh
process and over REST (which needs tensorflow_text, and says so in one line without it), and names never
seen in training come through."""
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common import lifecycle
from common.data.subword import SentencePiece, from_state
from tasks.translation import TASK
from tasks.translation.data import END_ID, UNK_ID, python_normalized
from tasks.translation.translator import Translator
from tests.conftest import REPO
from tests.harness import serve_in_fresh_process
from tests.tasks.translation.helpers import config_for, write

SUBWORD = {"data.granularity": "sentencepiece", "data.source_vocab_size": 300, "data.target_vocab_size": 300}
SMALL = {**SUBWORD, "data.source_vocab_size": 285, "data.target_vocab_size": 285}  # split_files yields 287


def split_files(tmp_path, test_rows):
    rows = [f"The {a} sees the {b}.\tDer {a} sieht den {b}.\n" for a in ("dog", "cat", "man", "bird", "child")
            for b in ("ball", "park", "house", "tree", "car", "river")]
    return {"data.path": "null", "data.train": write(tmp_path / "train.tsv", "".join(rows)),
            "data.val": write(tmp_path / "val.tsv", "".join(rows[:5])),
            "data.test": write(tmp_path / "test.tsv", "".join(test_rows))}


def test_the_pieces_are_fitted_on_the_training_split_only(tmp_path):
    files = split_files(tmp_path, ["The øx sees the qajaq.\tDer øx sieht den qajaq.\n"])
    prepared = TASK.prepare(config_for(**SMALL, **files))
    for side in ("source", "target"):
        pieces = prepared.state[f"{side}_vocab"]
        assert len(pieces) == 285 and "d" in pieces
        assert not {"ø", "q", "j"} & set(pieces)  # letters of the test split only
    # ...which the byte fallback still encodes: no test id is [UNK]
    assert UNK_ID not in [i for ids in prepared.source_ids["test"] for i in ids]


def test_training_ids_are_the_libraries_and_the_graphs_and_survive_the_saved_state(tmp_path):
    files = split_files(tmp_path, ["The Zoë sees the Łódź.\tDer Zoë sieht den Łódź.\n"])
    config = config_for(**SMALL, **files, **{"data.max_length": 24})
    prepared = TASK.prepare(config)
    sources = prepared.pairs["test"].sources + prepared.pairs["train"].sources[:3]
    library = SentencePiece(from_state(prepared.state["source_sentencepiece"]))
    expected = [ids[:23] + [END_ID] for ids in library.encode(python_normalized(sources, True))]
    assert prepared.source_ids["test"] + prepared.source_ids["train"][:3] == expected
    assert len(expected[0]) == 24  # cut to data.max_length, the end token kept
    model = TASK.build_model(config, prepared)
    graph = Translator(model, prepared.state, config).source_ids(tf.constant(sources)).numpy().tolist()
    assert [[i for i in row if i] for row in graph] == expected
    saved = json.loads(json.dumps(prepared.state))  # what state.json gives evaluate and export back
    again = TASK.prepare(config, saved)
    assert again.source_ids == prepared.source_ids and again.state == prepared.state


# ---- end to end (slow: a training run and fresh processes) --------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translation_subword")
    overrides = TASK.demo.make_data(folder / "data", seed=0)
    config = cfg.with_values(config_for(**SUBWORD), {**overrides, "data.max_examples": 300,
                                                    "data.max_length": 60, "model.max_output_length": 20})
    run, _ = lifecycle.train(TASK, config, folder / "run", log=lambda *_: None)
    return config, run, folder


@pytest.mark.slow
def test_the_export_carries_both_models_and_serves_raw_strings_in_a_fresh_process(trained, tmp_path):
    _, run, _ = trained
    state = json.loads(run.state_path.read_text(encoding="utf-8"))
    for side in ("source", "target"):
        model_file = run.export_dir / "assets" / f"{side}.model"
        assert model_file.read_bytes() == from_state(state[f"{side}_sentencepiece"])
    sources = ["The old dog sees the red ball.", "", "Zoë und Łukasz!"]
    served = serve_in_fresh_process(run.export_dir, {"source": np.array(sources)}, tmp_path,
                                    imports=("tensorflow_text",))
    _, config, state, model = lifecycle.load_run(TASK, run.path)
    signatures = TASK.serving_functions(model, config, TASK.prepare(config, state))
    expected = signatures["serving_default"].fn(source=tf.constant(sources))
    assert served["translation"].tolist() == [t.decode("utf-8") for t in expected["translation"].numpy()]
    assert served["tokens"].tolist() == [t.decode("utf-8") for t in expected["tokens"].numpy()]


@pytest.mark.slow
def test_predict_loads_the_export_through_tensorflow_text(trained):
    config, run, folder = trained
    out = folder / "translations.txt"
    summary = lifecycle.predict(TASK, run.path, TASK.demo.predict_input(config, folder), out)
    assert summary["sentences"] == 4 and len(out.read_text(encoding="utf-8").split("\n")[:-1]) == 4


@pytest.mark.slow
def test_the_rest_server_translates_raw_strings_through_the_subword_export(trained):
    from common.serving import make_server

    _, run, _ = trained
    sources = ["The old dog sees the red ball.", "Zoë und Łukasz!"]
    _, config, state, model = lifecycle.load_run(TASK, run.path)
    signatures = TASK.serving_functions(model, config, TASK.prepare(config, state))
    expected = signatures["serving_default"].fn(source=tf.constant(sources))["translation"].numpy()
    httpd = make_server(run.export_dir, TASK.name, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{httpd.server_port}/v1/models/{TASK.name}:predict",
            data=json.dumps({"instances": sources}).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [p["translation"] for p in predictions] == [t.decode("utf-8") for t in expected]


@pytest.mark.slow
def test_without_tensorflow_text_loading_the_export_is_one_line_naming_the_package(trained, tmp_path):
    _, run, _ = trained
    script = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow_text"] = None  # what `import tensorflow_text` meets when it is not installed
        from common.errors import UserError
        from common.export import load_serving
        try:
            load_serving({str(run.export_dir)!r})
        except UserError as exc:
            print("ERROR", exc)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Sentencepiece" in lines[0] and "pip install tensorflow-text==2.21.1" in lines[0]


# ---- names never seen in training ------------------------------------------------------------------
SYLLABLES = ["ka", "lo", "mi", "ren", "to", "sa", "vi", "del", "nu", "bar", "jo", "fe", "ri", "gu", "wen",
             "po", "tam", "bis", "dor", "ne", "hu", "ze", "mak", "yo"]
TEMPLATES = [("ich sehe {} im park .", "i see {} in the park ."),
             ("{} spielt fußball .", "{} plays football ."),
             ("der hund von {} schläft .", "the dog of {} sleeps ."),
             ("{} und {} essen .", "{} and {} eat .")]
# New combinations of the training names' syllables, checked below to be absent from the training data.
UNSEEN_NAMES = ["Kalomi", "Zedorka"]


def name_pairs(folder, n=3000, seed=0):
    """German-like -> English-like sentences about random names (2-3 syllables), which the model must copy."""
    rng = np.random.default_rng(seed)
    rows, names = [], set()
    while len(rows) < n:
        source, target = TEMPLATES[rng.integers(len(TEMPLATES))]
        picked = ["".join(rng.choice(SYLLABLES, size=rng.integers(2, 4))).capitalize()
                  for _ in range(source.count("{}"))]
        names.update(name.lower() for name in picked)
        rows.append(f"{source.format(*picked)}\t{target.format(*picked)}\n")
    test = [f"{s.format(name)}\t{t.format(name)}\n" for name in UNSEEN_NAMES for s, t in TEMPLATES[:2]]
    return names, {"data.path": "null", "data.train": write(folder / "train.tsv", "".join(rows[:-100])),
                   "data.val": write(folder / "val.tsv", "".join(rows[-100:])),
                   "data.test": write(folder / "test.tsv", "".join(test))}


@pytest.mark.slow
def test_names_never_seen_in_training_come_through_the_translation(tmp_path):
    names, files = name_pairs(tmp_path)
    assert not {name.lower() for name in UNSEEN_NAMES} & names
    values = {**SUBWORD, **files, "data.source_vocab_size": 330, "data.target_vocab_size": 330,
              "data.max_length": 40, "model.max_output_length": 40, "model.embedding_dim": 32,
              "model.encoder.units": 64, "model.decoder_units": 128, "model.attention_units": 64,
              "model.feed_context": False, "model.attention": "luong_general", "model.beam_width": 1,
              "model.dropout": 0.0, "model.label_smoothing": 0.0, "model.attention_plots": 0,
              "train.epochs": 30, "train.learning_rate": 0.005, "train.batch_size": 32}
    config = config_for(**values)
    run, _ = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    test_lines = (tmp_path / "test.tsv").read_text(encoding="utf-8").splitlines()
    sources = [line.split("\t")[0] for line in test_lines]
    served = serve_in_fresh_process(run.export_dir, {"source": np.array(sources)}, tmp_path,
                                    imports=("tensorflow_text",))
    for source, translation in zip(sources, served["translation"].tolist()):
        name = next(name for name in UNSEEN_NAMES if name in source)
        assert name.lower() in translation.split(), (source, translation)  # lower-cased, as data.lowercase
        assert "[UNK]" not in translation
