"""The classifier: every pooling builds, pretrained vectors land in the embedding, probabilities come back
in input order."""
import keras
import numpy as np
import pytest

from tasks.sentiment import TASK
from tasks.sentiment.model import predict_probabilities
from tests.tasks.sentiment.helpers import LONG_TEXT, tiny_prepared


@pytest.mark.parametrize("pooling", ["last", "max", "mean", "max_mean", "attention"])
def test_every_pooling_builds_and_handles_empty_and_long_strings(tmp_path, pooling):
    config, prepared = tiny_prepared(tmp_path, **{"model.pooling": pooling})
    model = TASK.build_model(config, prepared)
    probs = predict_probabilities(model, ["", "", LONG_TEXT])
    assert probs.shape == (3, 2) and np.all(np.isfinite(probs))


def test_pretrained_vectors_initialise_the_embedding_and_can_be_frozen(tmp_path):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("good 1 2 3 4 5 6 7 8\nfilm 8 7 6 5 4 3 2 1\n", encoding="utf-8")
    config, prepared = tiny_prepared(tmp_path, **{"model.pretrained_vectors": str(vectors),
                                                  "model.trainable_embeddings": False})
    info = dict(prepared.info)
    model = TASK.build_model(config, prepared)
    embedding = model.get_layer("embedding")
    row = prepared.state["vocabulary"].index("good")
    np.testing.assert_allclose(embedding.get_weights()[0][row], [1, 2, 3, 4, 5, 6, 7, 8])
    assert not embedding.trainable
    assert prepared.info == info  # build_model leaves the report facts alone


def test_probabilities_come_back_in_input_order_whatever_the_batching(tmp_path):
    config, prepared = tiny_prepared(tmp_path)
    model = TASK.build_model(config, prepared)
    texts = ["good film " * n for n in (9, 1, 5, 3, 7)] + [""]
    one_by_one = np.concatenate([keras.ops.convert_to_numpy(model(np.array([t]), training=False))
                                 for t in texts])
    np.testing.assert_allclose(predict_probabilities(model, texts, batch_size=2), one_by_one, atol=1e-6)
    assert predict_probabilities(model, []).shape == (0, 2)
