"""ReversibleEmbedding: one matrix embeds token ids and, transposed, scores the vocabulary."""
import keras
import numpy as np
from keras import ops

from common.layers.reversible_embedding import ReversibleEmbedding
from tests.harness import run_layer_test

IDS = np.array([[5, 6, 7, 0], [4, 0, 0, 0]], "int32")
HIDDEN = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
INIT = {"input_dim": 10, "output_dim": 3, "mask_zero": True}


def test_embedding_call_passes_the_layer_checks_and_masks_padding(tmp_path):
    run_layer_test(ReversibleEmbedding, INIT, IDS, tmp_path, expected_output_shape=(2, 4, 3),
                   expected_mask=IDS != 0)


def test_reverse_call_passes_the_layer_checks_and_keeps_the_hidden_mask(tmp_path):
    mask = IDS != 0
    run_layer_test(ReversibleEmbedding, INIT, HIDDEN, tmp_path, call_kwargs={"reverse": True},
                   expected_output_shape=(2, 4, 10))
    layer = ReversibleEmbedding(**INIT)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.compute_mask(HIDDEN, mask)), mask)


def test_reverse_call_scores_with_the_transposed_embedding_plus_a_bias():
    layer = ReversibleEmbedding(**INIT)
    layer(IDS)
    layer.logit_bias.assign(np.arange(10, dtype="float32"))
    matrix = ops.convert_to_numpy(layer.embeddings)
    np.testing.assert_allclose(ops.convert_to_numpy(layer(HIDDEN, reverse=True)),
                               HIDDEN @ matrix.T + np.arange(10), rtol=1e-5, atol=1e-6)


def test_the_logit_bias_is_saved_with_the_model(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    layer = ReversibleEmbedding(**INIT)
    model = keras.Model(ids, layer(layer(ids), reverse=True))
    layer.logit_bias.assign(np.full(10, 2.5, "float32"))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(ops.convert_to_numpy(again.layers[-1].logit_bias), np.full(10, 2.5))
