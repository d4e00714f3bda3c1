"""The SavedModel: generation and scoring on raw strings in a fresh process, through the REST server,
and `predict` on a prompts file, with one clear message for bad input."""
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common.errors import DataError
from common.export import load_serving, write_export
from tasks.language_model import TASK, data, export
from tasks.language_model.model import LanguageModelGraph
from tests.harness import assert_outputs_equal, serve_in_fresh_process
from tests.tasks.language_model.helpers import WORDS, config_for, write


def exported(folder, **values):
    config = config_for(write(folder, "c.txt", WORDS * 6), **values)
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    signatures = write_export(TASK, model, config, prepared, folder / "export")
    return config, prepared, model, signatures


@pytest.fixture(scope="module")
def word_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("word")
    return (folder,) + exported(folder, **{"model.generation.temperature": 0.7, "model.generation.max_tokens": 5})


GENERATE = {"prompt": np.array(["the cat", "", "zebra unknown"]), "max_tokens": np.array([3, 4, 2], "int32"),
            "temperature": np.array([0.0, 1.0, 0.5], "float32"), "top_k": np.array([0, 2, 0], "int32"),
            "top_p": np.array([1.0, 1.0, 0.9], "float32"), "seed": np.array([1, 2, 3], "int32")}
SCORE = {"text": np.array(["the cat sees the dog", "", "zebra"])}


@pytest.mark.parametrize("signature, inputs", [("serving_default", {"prompt": GENERATE["prompt"]}),
                                               ("generate", GENERATE), ("score", SCORE)])
def test_every_signature_serves_in_a_fresh_process(word_export, signature, inputs, tmp_path):
    _, _, _, _, signatures = word_export
    expected = {k: np.asarray(v) for k, v in signatures[signature].fn(
        **{k: tf.constant(v) for k, v in inputs.items()}).items()}
    assert_outputs_equal(serve_in_fresh_process(word_export[0] / "export", inputs, tmp_path, signature), expected)


def generator_biased(word_export, eos_bias: float, config=None, prepared=None) -> export.Generator:
    """A generator over a copy of the model whose output bias makes <eos> certain (``eos_bias`` 100) or never
    picked (-100), so where a text ends does not depend on what the untrained weights happen to favour
    (``config`` and ``prepared``: another model, e.g. a character one, biased towards its boundary token)."""
    _, word_config, word_prepared, model, _ = word_export
    config, prepared = config or word_config, prepared or word_prepared
    copy = TASK.build_model(config, prepared)
    if config is word_config:
        copy.set_weights(model.get_weights())
    bias = copy.get_layer("logits").bias
    bias.assign(tf.tensor_scatter_nd_update(bias, [[data.BOUNDARY_ID]], [eos_bias]))
    return export.Generator(copy, prepared.state["vocabulary"], config.data.granularity)


def counting_steps(generator, monkeypatch) -> list:
    """Record every run of the generator's graph: one for the prompts, then one per generation step."""
    calls, run = [], generator.graph.run
    monkeypatch.setattr(generator.graph, "run",
                        lambda ids, states: calls.append(ids.shape) or run(ids, states))
    return calls


def test_generate_honours_each_prompts_settings(word_export):
    out = generator_biased(word_export, -100.0).generate(**{k: tf.constant(v) for k, v in GENERATE.items()})
    assert [len(t.decode().split()) for t in out["text"].numpy()] == [3, 4, 2]
    bad = {**GENERATE, "max_tokens": np.array([3, 0, 2], "int32")}
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_tokens must be at least 1"):
        word_export[4]["generate"].fn(**{k: tf.constant(v) for k, v in bad.items()})


def test_a_word_models_generation_stops_at_its_first_eos(word_export, monkeypatch):
    """<eos> ends a line: what a word model would generate after it is another text's ("<eos>" is no word),
    so the loop in the graph stops there instead of running to max_tokens."""
    generator = generator_biased(word_export, 100.0)
    calls = counting_steps(generator, monkeypatch)
    out = generator.generate(**{k: tf.constant(v) for k, v in GENERATE.items()})
    assert out["text"].numpy().tolist() == [b"", b"", b""]
    assert len(calls) == 2  # the prompts, then the one step that produced <eos> in every row (max_tokens: 4)


def test_a_character_models_newline_does_not_stop_generation(word_export, tmp_path, monkeypatch):
    """A character model's boundary token is the newline, which is text: a model that always writes it
    goes on to max_tokens."""
    config = config_for(write(tmp_path, "c.txt", WORDS * 6), **{"data.granularity": "char"})
    generator = generator_biased(word_export, 100.0, config, TASK.prepare(config))
    calls = counting_steps(generator, monkeypatch)
    out = generator.generate(**{k: tf.constant(v) for k, v in GENERATE.items()})
    assert out["text"].numpy().tolist() == [b"\n" * 3, b"\n" * 4, b"\n" * 2]
    assert len(calls) == 1 + 4


def test_score_is_the_log_likelihood_of_every_token_and_the_closing_eos(word_export):
    _, _, prepared, model, signatures = word_export
    out = signatures["score"].fn(text=tf.constant(["the cat sees"]))
    vocabulary = prepared.state["vocabulary"]
    ids = [data.BOUNDARY_ID] + [vocabulary.index(w) for w in ["the", "cat", "sees"]] + [data.BOUNDARY_ID]
    graph = LanguageModelGraph(model)
    logits, _ = graph.run(tf.constant([ids[:-1]]), graph.recurrent.zero_states(1))
    expected = float(tf.reduce_sum(tf.gather(tf.nn.log_softmax(logits[0]), ids[1:], batch_dims=1)))
    assert float(out["log_likelihood"][0]) == pytest.approx(expected, rel=1e-5)
    assert float(out["perplexity"][0]) == pytest.approx(np.exp(-expected / 4), rel=1e-5)


def post(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_rest_server_serves_generate_and_score(word_export):
    from common.serving import make_server

    folder = word_export[0]
    httpd = make_server(folder / "export", "language_model", port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}/v1/models/language_model:predict"
    try:
        status, body = post(url, {"instances": ["the cat", ""]})
        assert status == 200 and len(body["predictions"]) == 2
        rows = [{k: np.asarray(v)[i].item() for k, v in GENERATE.items()} for i in range(3)]
        status, body = post(url, {"signature_name": "generate", "instances": rows})
        expected = word_export[4]["generate"].fn(**{k: tf.constant(v) for k, v in GENERATE.items()})["text"]
        assert status == 200 and body["predictions"] == [t.decode() for t in expected.numpy()]
        status, body = post(url, {"signature_name": "score", "instances": ["the cat", "the dog"]})
        assert status == 200 and all(p["perplexity"] > 1 for p in body["predictions"])
        status, body = post(url, {"signature_name": "generate", "instances": [{**rows[0], "max_tokens": 0}]})
        assert status == 400 and body["error"] == ("input 'max_tokens' must be from 1 to 512 (this server's "
                                                   "cap on generated tokens per prompt), got 0")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_predict_writes_one_json_line_per_prompt(word_export, tmp_path):
    folder, config, _, _, _ = word_export
    prompts = write(tmp_path, "prompts.txt", "the cat\n\nthe dogs\n")
    summary = TASK.predict_file(load_serving(folder / "export"), config, {"vocabulary": []}, prompts,
                                tmp_path / "out.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in rows] == ["the cat", "", "the dogs"] and summary["prompts"] == 3
    expected = word_export[4]["serving_default"].fn(prompt=tf.constant(["the cat", "", "the dogs"]))["text"]
    assert [r["text"] for r in rows] == [t.decode() for t in expected.numpy()]


@pytest.mark.parametrize("content, message", [(b"", "the file is empty"), (b"caf\xe9\n", "not valid utf-8")])
def test_bad_prompt_files_fail_in_one_line(word_export, tmp_path, content, message):
    folder, config, prepared, _, _ = word_export
    path = tmp_path / "prompts.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as error:
        export.read_prompts(path, config, prepared.state["vocabulary"])
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_prompt_of_unknown_characters_is_named_for_a_char_model(tmp_path):
    config = cfg.with_values(config_for(write(tmp_path, "c.txt", WORDS * 6)), {"data.granularity": "char"})
    vocabulary = data.prepare(config).state["vocabulary"]
    path = write(tmp_path, "prompts.txt", "the cat\nthé ça\n")
    with pytest.raises(DataError, match=r"prompts.txt:2: characters the model never saw in training: 'ç', 'é'"):
        export.read_prompts(path, config, vocabulary)


def test_each_signature_takes_the_documented_input_names(word_export):
    """The TensorSpec names become the SavedModel's input keys, the names REST clients send."""
    *_, signatures = word_export
    assert {name: [spec.name for spec in s.input_signature] for name, s in signatures.items()} == {
        "serving_default": ["prompt"], "score": ["text"],
        "generate": ["prompt", "max_tokens", "temperature", "top_k", "top_p", "seed"]}
