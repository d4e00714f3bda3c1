"""lower_and_split_punctuation: the baselines' tokens inside the graph, kept by saved models and the LM text."""
import re

import keras
import numpy as np

from tasks.sentiment import TASK
from tasks.sentiment.baselines import TOKENS
from tasks.sentiment.model import predict_probabilities
from tasks.sentiment.pretraining import standardiser
from tasks.sentiment.standardize import standardizer
from tests.tasks.sentiment.helpers import tiny_prepared

TEXT = "It's GREAT!!! Isn't it? Café-crème, 10/10 (really)... naïve_plot"


def test_the_tokens_are_the_baselines_tokens_lowercased():
    layer = keras.layers.TextVectorization(standardize=standardizer("lower_and_split_punctuation"),
                                           output_mode="int")
    layer.adapt([TEXT])
    tokens = [layer.get_vocabulary()[i] for i in np.asarray(layer([TEXT]))[0]]
    assert tokens == re.findall(TOKENS, TEXT.lower())  # "!" and "?" become tokens; é and ï stay in words


def test_the_language_model_text_is_split_alike():
    assert standardiser("lower_and_split_punctuation")(["Great, isn't it?"]) == ["great ,  isn ' t it ? "]


def test_a_model_with_it_saves_and_loads_with_the_same_outputs(tmp_path):
    config, prepared = tiny_prepared(tmp_path, **{"model.standardize": "lower_and_split_punctuation"})
    assert "!" not in prepared.state["vocabulary"]  # the tiny data has no punctuation
    model = TASK.build_model(config, prepared)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    texts = ["good film!", "bad, bad film?"]
    np.testing.assert_allclose(predict_probabilities(loaded, texts), predict_probabilities(model, texts), atol=1e-6)
