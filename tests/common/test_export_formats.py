"""export.formats: the ONNX and LiteRT exports of forecasting and sentiment answer like the SavedModel.

Each model is trained for one epoch in the test; the reference client (`common.onnx_client`: numpy plus
onnxruntime or LiteRT) gets the same raw inputs as the SavedModel's ``serving_default``.
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
from tasks.sentiment import TASK as SENTIMENT  # noqa: E402
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
    from tasks.translation import TASK as TRANSLATION

    with pytest.raises(ConfigError, match=r"litert is not available for the translation task .*; it can be "
                                          r"exported as savedmodel$"):
        lifecycle.load_config(TRANSLATION, TRANSLATION.demo_config_path,
                              ["export.formats=[savedmodel, litert]"])


def test_export_formats_must_keep_the_savedmodel_and_list_known_formats():
    with pytest.raises(ConfigError, match="lacks savedmodel"):
        sh.load(**{"export.formats": ["onnx"]})
    with pytest.raises(ConfigError, match="choose one of savedmodel, onnx, litert"):
        sh.load(**{"export.formats": ["savedmodel", "tflite"]})
    assert sh.load().export.formats == ["savedmodel"]
