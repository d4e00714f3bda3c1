"""export.formats: the ONNX and LiteRT exports of every task answer like the SavedModel.

Forecasting and sentiment are trained for one epoch in the test; NER, the language model and translation
are the demo configs at tiny sizes with random weights (no training: varied tags, tokens and stops are
what the checks need, not good ones). The reference client (`common.onnx_client`: numpy plus onnxruntime
or LiteRT) gets the same raw inputs as the SavedModel's signatures.
"""
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")
pytest.importorskip("ai_edge_litert")

from common import lifecycle  # noqa: E402
from common.errors import ConfigError  # noqa: E402
from common.export import load_serving  # noqa: E402
from common.onnx_client import Client, tokens  # noqa: E402
from tasks.forecasting import TASK as FORECASTING  # noqa: E402
from tasks.language_model import TASK as LANGUAGE_MODEL  # noqa: E402
from tasks.ner import TASK as NER  # noqa: E402
from tasks.sentiment import TASK as SENTIMENT  # noqa: E402
from tasks.translation import TASK as TRANSLATION  # noqa: E402
from tests.tasks.forecasting import helpers as fh  # noqa: E402
from tests.tasks.sentiment import helpers as sh  # noqa: E402

ALL = ["savedmodel", "onnx", "litert"]
TOLERANCE = 1e-5


def _served(export_dir, inputs):
    serve = load_serving(export_dir)
    return {k: np.asarray(v.numpy()) for k, v in serve(**inputs).items()}


@pytest.fixture(scope="module")
def forecasting_run(tmp_path_factory):
    """Target a, known-future b, two calendar features, three calibrated quantile levels."""
    folder = tmp_path_factory.mktemp("forecasting")
    # Values near 1: float32 resolves 1e-5 there (at 160 one step of float32 is 1.5e-5 already).
    times = pd.date_range("2024-01-01", periods=200, freq="h")
    path = fh.write_csv(folder / "s.csv", [f"{t:%Y-%m-%d %H:%M:%S},{np.sin(i / 5):.4f},{np.cos(i / 7):.4f}"
                                          for i, t in enumerate(times)])
    config = fh.config_for(path, **{"data.covariate_columns": [], "data.future_covariate_columns": ["b"],
                                    "data.calendar_features": ["hour_of_day", "day_of_week"],
                                    "model.quantiles": [0.1, 0.5, 0.9], "export.formats": ALL})
    run, _ = lifecycle.train(FORECASTING, config, folder / "run")
    prepared = FORECASTING.prepare(config, lifecycle.read_state(run))
    return run, FORECASTING.serving_example(config, prepared)


@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_forecasting_client_equals_the_savedmodel_on_raw_inputs(forecasting_run, fmt):
    run, example = forecasting_run
    expected = _served(run.export_dir, example)["forecast"]
    got = Client(run.export_dir / fmt)(**example)["forecast"]
    assert got.shape == expected.shape == (4, 2, 1, 3)
    assert np.max(np.abs(got - expected)) <= TOLERANCE


def test_forecasting_preprocessing_json_names_what_a_host_needs(forecasting_run):
    run, _ = forecasting_run
    spec = Client(run.export_dir / "onnx").spec
    assert spec["features"] == ["a", "b"] and spec["targets"] == ["a"]
    assert (spec["lookback"], spec["horizon"], spec["quantiles"]) == (8, 2, [0.1, 0.5, 0.9])
    assert spec["calendar_features"] == ["hour_of_day", "day_of_week"] and spec["calibrated"]
    assert [i["name"] for i in spec["inputs"]] == ["history", "future_covariates"]
    assert Client(run.export_dir / "litert").spec["inputs"][0]["shape"] == [1, 8, 2]


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory):
    """A bidirectional GRU over a masked embedding (mask_zero), mean-pooled."""
    folder = tmp_path_factory.mktemp("sentiment")
    rows = ([[f"a good, GOOD film {i}!", "pos"] for i in range(12)]
            + [[f"bad film {i}?", "neg"] for i in range(12)])
    path = sh.write_csv(folder / "d.csv", rows)
    config = sh.load(**{"data.path": path, **sh.TINY, "model.rnn.bidirectional": True,
                        "model.pooling": "mean", "model.max_length": 12, "export.formats": ALL})
    run, _ = lifecycle.train(SENTIMENT, config, folder / "run")
    return run


TEXTS = ["a good film", "BAD film 3?!", "", "good " * 30 + "bad", "Ünïcode fïlm, GOOD\tfilm\n", "zzz qqq",
         "  film   good  "]


@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_sentiment_client_equals_the_savedmodel_on_raw_texts(sentiment_run, fmt):
    expected = _served(sentiment_run.export_dir, {"text": np.array(TEXTS)})
    got = Client(sentiment_run.export_dir / fmt)(text=TEXTS)
    assert np.max(np.abs(got["probabilities"] - expected["probabilities"])) <= TOLERANCE
    assert got["label_id"].tolist() == expected["label_id"].tolist()
    assert got["label"].tolist() == [label.decode() for label in expected["label"]]


def test_sentiment_onnx_takes_any_length_and_padding_changes_nothing(sentiment_run):
    client = Client(sentiment_run.export_dir / "onnx")
    ids = client.token_ids(TEXTS)
    padded = np.zeros((len(ids), 40), np.int64)
    padded[:, :ids.shape[1]] = ids
    a, b = client.core({"ids": ids})["probabilities"], client.core({"ids": padded})["probabilities"]
    assert np.max(np.abs(a - b)) <= TOLERANCE


@pytest.mark.parametrize("rule", ["lower_and_strip_punctuation", "lower", "strip_punctuation", "none",
                                  "lower_and_split_punctuation"])
def test_client_token_ids_equal_the_models_text_vectorization(tmp_path, rule):
    import keras
    import tensorflow as tf

    config, prepared = sh.tiny_prepared(tmp_path, **{"model.standardize": rule})
    model = SENTIMENT.build_model(config, prepared)
    ids_model = keras.Model(model.input, model.get_layer("vectorize").output)
    texts = ["Good film!", "GOOD, film?", "Ünïcode Éé fïlm_x", "a-b c.d 'e' (f)", "tab\tnew\nline  x", ""]
    expected = np.asarray(ids_model(tf.constant(texts)))
    index = {t: i for i, t in enumerate(prepared.state["vocabulary"])}
    for row, text in zip(expected, texts):
        got = [index.get(t, 1) for t in tokens(text, rule)]
        assert row[:len(got)].tolist() == got and not row[len(got):].any(), (rule, text)


def test_a_format_the_model_cannot_provide_is_refused_in_one_line():
    with pytest.raises(ConfigError) as caught:
        sh.load(**{"model.ngrams": 2, "export.formats": ["savedmodel", "onnx"]})
    message = str(caught.value)
    assert "\n" not in message and "onnx is not available" in message and "model.ngrams" in message
    assert message.endswith("it can be exported as savedmodel")


def test_a_task_without_the_format_names_what_it_supports():
    with pytest.raises(ConfigError) as caught:
        lifecycle.load_config(TRANSLATION, TRANSLATION.demo_config_path,
                              ["export.formats=[savedmodel, litert]"])
    message = str(caught.value)
    assert "\n" not in message and "litert is not available for the translation task" in message
    assert message.endswith("it can be exported as savedmodel, onnx")


def test_export_formats_must_keep_the_savedmodel_and_list_known_formats():
    with pytest.raises(ConfigError, match="lacks savedmodel"):
        sh.load(**{"export.formats": ["onnx"]})
    with pytest.raises(ConfigError, match="choose one of savedmodel, onnx, litert"):
        sh.load(**{"export.formats": ["savedmodel", "tflite"]})
    assert sh.load().export.formats == ["savedmodel"]


def _random_export(task, folder, config, formats, scale=0.5):
    """The export of ``config``'s model with random weights (normal, ``scale``), every format in it."""
    import keras

    from common import config as cfg
    from common.export import write_export

    config = cfg.with_values(config, {"export.formats": ["savedmodel", *formats]})
    prepared = task.prepare(config)
    keras.utils.set_random_seed(3)
    model = task.build_model(config, prepared)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, scale, w.shape).astype(w.dtype) for w in model.get_weights()])
    write_export(task, model, config, prepared, folder / "export")
    return folder / "export", model


def _strings(values):
    return [v.decode() if isinstance(v, bytes) else v for v in np.asarray(values).ravel().tolist()]


@pytest.fixture(scope="module")
def ner_export(tmp_path_factory):
    """The demo tagger (char CNN, casing, a bidirectional LSTM over masked words, constrained CRF in
    BIOES, data in IOB2) at tiny sizes."""
    from tests.tasks.ner.helpers import tiny_config

    folder = tmp_path_factory.mktemp("ner")
    return _random_export(NER, folder, tiny_config(folder), ["onnx", "litert"])


@pytest.fixture(scope="module")
def ner_dir(ner_export):
    return ner_export[0]


NER_TOKENS = [["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
              ["Zxqwv", "Ünïcödé", "visited", "Ouagadougou", ".", "", "", "", ""],
              ["İSTANBUL", "3,5", "a1", "McDonald", "ΣΑΣ", "x\ny", "-", "1990s", "ok"],
              ["", "", "", "", "", "", "", "", ""]]


@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_ner_client_tags_equal_the_savedmodel_on_raw_tokens(ner_dir, fmt):
    expected = _strings(_served(ner_dir, {"tokens": np.array(NER_TOKENS)})["tags"])
    got = _strings(Client(ner_dir / fmt)(tokens=NER_TOKENS)["tags"])
    assert got == expected
    assert {t[:2] for t in expected} >= {"B-", "I-", "O"}  # the scheme conversion is exercised


def test_ner_onnx_of_a_masked_bidirectional_tagger_gives_the_models_scores_whatever_the_padding(ner_export):
    import tensorflow as tf

    export_dir, model = ner_export
    client = Client(export_dir / "onnx")
    tokens = np.array(NER_TOKENS)
    valid = tokens != ""
    expected = np.asarray(model(tf.constant(tokens), training=False))
    inputs = client.ner_inputs(NER_TOKENS)
    padded = {k: np.concatenate([v, np.zeros_like(v)], axis=1) for k, v in inputs.items()}
    for feed in (inputs, padded):
        scores = client.core(feed)["scores"][:, :tokens.shape[1]]
        assert np.max(np.abs(scores - expected)[valid]) <= TOLERANCE


def test_ner_client_sentences_equal_the_savedmodel(ner_dir):
    sentences = ["EU rejects German call .", "", "  Peter   Blackburn\tin London "]
    expected = _served_signature(ner_dir, "sentences", {"sentences": np.array(sentences)})
    got = Client(ner_dir / "onnx").sentences(sentences)
    assert got["tokens"].tolist() == _strings(expected["tokens"])
    assert got["tags"].tolist() == _strings(expected["tags"])


def test_ner_litert_refuses_a_sentence_longer_than_its_fixed_length(ner_dir):
    client = Client(ner_dir / "litert")
    with pytest.raises(ValueError, match=f"at most {client.spec['max_words']}"):
        client(tokens=[["word"] * (client.spec["max_words"] + 1)])


def _served_signature(export_dir, name, inputs):
    serve = load_serving(export_dir, name)
    return {k: np.asarray(v.numpy()) for k, v in serve(**inputs).items()}


@pytest.fixture(scope="module")
def lm_export(tmp_path_factory):
    from tests.tasks.language_model.helpers import WORDS, config_for, write

    folder = tmp_path_factory.mktemp("lm")
    path = write(folder, "corpus.txt", WORDS * 6)
    return _random_export(LANGUAGE_MODEL, folder, config_for(path, **{"model.rnn.layers": 2}), ["onnx"],
                          scale=2.0)[0]


LM_TEXTS = ["the cat", "", "a qzxv dog sees", "the dogs see the cat sleeps"]


def test_language_model_client_greedy_tokens_equal_the_savedmodel(lm_export):
    n = len(LM_TEXTS)
    expected = _served_signature(lm_export, "generate", {
        "prompt": np.array(LM_TEXTS), "max_tokens": np.full(n, 7, "int32"),
        "temperature": np.zeros(n, "float32"), "top_k": np.zeros(n, "int32"), "top_p": np.ones(n, "float32"),
        "seed": np.zeros(n, "int32")})["text"]
    got = Client(lm_export / "onnx")(prompt=LM_TEXTS, max_tokens=7)["text"].tolist()
    assert got == _strings(expected)
    assert len(set(got)) > 1, got


def test_language_model_client_scores_equal_the_savedmodel(lm_export):
    expected = _served_signature(lm_export, "score", {"text": np.array(LM_TEXTS)})
    got = Client(lm_export / "onnx").score(text=LM_TEXTS)
    assert np.max(np.abs(got["log_likelihood"] - expected["log_likelihood"])) <= TOLERANCE
    # float32 resolves perplexities of hundreds to 3e-5 only: relative
    assert np.max(np.abs(got["perplexity"] / expected["perplexity"] - 1)) <= TOLERANCE


@pytest.fixture(scope="module")
def translation_export(tmp_path_factory):
    from tests.tasks.translation.helpers import config_for

    folder = tmp_path_factory.mktemp("translation")
    overrides = TRANSLATION.demo.make_data(folder / "data", 0)
    config = config_for(**overrides, **{"data.max_examples": 200})
    return _random_export(TRANSLATION, folder, config, ["onnx"])[0]


def test_translation_client_greedy_equals_the_savedmodel(translation_export):
    sources = ["The small dog sees a cat.", "", "Ünïcode, (words) don't-stop!", "ein " * 200 + "hund ."]
    expected = _served_signature(translation_export, "translate_greedy", {"source": np.array(sources)})
    got = Client(translation_export / "onnx")(source=sources)
    assert got["tokens"].tolist() == _strings(expected["tokens"])
    assert got["translation"].tolist() == _strings(expected["translation"])
    assert np.max(np.abs(got["score"] - expected["score"])) <= TOLERANCE
    assert len(set(got["tokens"].tolist())) > 1


def test_ner_with_character_language_models_refuses_onnx_in_one_line():
    from tests.tasks.ner.helpers import TINY

    with pytest.raises(ConfigError) as caught:
        lifecycle.load_config(NER, NER.demo_config_path,
                              TINY + ["model.char_lm.epochs=1", "export.formats=[savedmodel, onnx]"])
    message = str(caught.value)
    assert "\n" not in message and "model.char_lm" in message
    assert message.endswith("it can be exported as savedmodel")


def test_translation_with_sentencepiece_refuses_onnx_in_one_line():
    with pytest.raises(ConfigError) as caught:
        lifecycle.load_config(TRANSLATION, TRANSLATION.demo_config_path, [
            "data.granularity=sentencepiece", "data.source_vocab_size=100", "data.target_vocab_size=100",
            "export.formats=[savedmodel, onnx]"])
    message = str(caught.value)
    assert "\n" not in message and "SentencePiece" in message
    assert message.endswith("it can be exported as savedmodel")
