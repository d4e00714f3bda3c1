"""How the classifier's ``TextVectorization`` layers standardize text (``model.standardize``).

Keras' own modes strip punctuation, but "!" and "?" carry sentiment: the NBSVM baseline, which keeps
each punctuation mark as a token, gains half a point on IMDB from them. ``lower_and_split_punctuation``
lowercases and puts spaces around every character that is not a letter, digit, mark, underscore or
space, so the whitespace split makes each such character a token, as the baselines' token pattern does.
It is a registered function, so a saved model finds it again; the export traces it into the graph.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from tasks.sentiment.config import STANDARDIZE


@keras.saving.register_keras_serializable(package="rnnsuite")
def lower_and_split_punctuation(text):
    return tf.strings.regex_replace(tf.strings.lower(text, encoding="utf-8"), r"([^\pL\pN\pM_\s])", r" \1 ")


def standardizer(name: str):
    """``TextVectorization``'s ``standardize`` argument for a ``model.standardize`` choice."""
    return lower_and_split_punctuation if name == "lower_and_split_punctuation" else STANDARDIZE[name]
