"""The in-graph translator: decoding in input order."""
import keras
import numpy as np
import tensorflow as tf

from tasks.translation.data import build_vocabulary
from tasks.translation.model import build_seq2seq
from tasks.translation.translator import Translator
from tests.tasks.translation.helpers import config_for


def test_translate_returns_results_in_input_order_whatever_the_batching():
    keras.utils.set_random_seed(0)
    state = {"source_vocab": build_vocabulary([["a", "b", "c", "d"]], 0, 1),
             "target_vocab": build_vocabulary([["x", "y", "z"]], 0, 1)}
    model = build_seq2seq(len(state["source_vocab"]), len(state["target_vocab"]), embedding_dim=4,
                          encoder=dict(units=4), decoder_units=8, attention_units=4)
    translator = Translator(model, state, config_for())
    texts = ["a b c d a b c", "a", "b c", "d d d d", "c"]
    batched = translator.translate(texts, beam_width=2, batch_size=2)
    one_by_one = [translator.translate([t], beam_width=2) for t in texts]
    assert batched[0] == [text for texts_, _ in one_by_one for text in texts_]
    direct = translator(tf.constant(texts[:1]), 2)["translation"].numpy()[0].decode("utf-8")
    assert batched[0][0] == direct and np.all([isinstance(t, list) for t in batched[1]])
