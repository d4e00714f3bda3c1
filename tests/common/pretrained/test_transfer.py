"""The language models in a task's model: copied into its encoder (init), or frozen beside it (features)."""
import keras
import numpy as np

from common.layers.recurrent import RNNConfig
from common.pretrained.encoder import load_encoder
from common.pretrained.transfer import assign_encoder, language_model_features
from tests.common.pretrained.helpers import FeatureOptions, Options, encoder_layers
from tests.tasks.language_model.helpers import lm_run


def test_a_unidirectional_encoder_gets_the_forward_lm_weights(tmp_path):
    rnn = RNNConfig(units=5, layers=2)
    encoder = load_encoder(Options(), ["", "[UNK]", "film", "plot"], 6, rnn, lm_run(tmp_path / "lm"))
    _, embedding, block = encoder_layers(rnn)
    assign_encoder(embedding, block, encoder)
    for layer, weights in zip(block.rnns, encoder.forward.cells):
        for got, want in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(got, want)


def test_a_bidirectional_encoder_takes_each_direction_from_its_lm(tmp_path):
    lm_run(tmp_path / "both" / "forward")
    lm_run(tmp_path / "both" / "backward", direction="backward")
    rnn = RNNConfig(units=5, layers=2, bidirectional=True)
    encoder = load_encoder(Options(), ["", "[UNK]", "film", "plot"], 6, rnn, tmp_path / "both")
    _, embedding, block = encoder_layers(rnn, input_dim=9)  # 3 extra task features, as ner's characters
    assign_encoder(embedding, block, encoder)
    first, second = block.rnns
    np.testing.assert_array_equal(first.forward_layer.get_weights()[0][:6], encoder.forward.cells[0][0])
    np.testing.assert_array_equal(first.backward_layer.get_weights()[1], encoder.backward.cells[0][1])
    assert np.any(first.forward_layer.get_weights()[0][6:])  # the task's own feature rows are kept
    kernel = second.backward_layer.get_weights()[0]  # reads [forward outputs, backward outputs]
    np.testing.assert_array_equal(kernel[5:], encoder.backward.cells[1][0])
    assert not np.any(kernel[:5])  # as the backward LM: it never saw the forward direction


def _feature_model(encoder, width=3):
    """ids -> [task embedding, LM features] -> a trainable head, as the tasks wire it."""
    ids = keras.Input((None,), dtype="int32")
    own = keras.layers.Embedding(len(encoder.embeddings), width, mask_zero=True, name="embedding")(ids)
    x = keras.layers.Concatenate()([own, language_model_features(ids, encoder, "auto")])
    return keras.Model(ids, keras.layers.Dense(2, name="head")(x))


def test_features_are_the_lm_states_in_each_direction(tmp_path):
    lm_run(tmp_path / "both" / "forward")
    lm_run(tmp_path / "both" / "backward", direction="backward")
    encoder = load_encoder(FeatureOptions(), ["", "[UNK]", "film", "plot"], 99, RNNConfig(units=50),
                           tmp_path / "both")  # any task encoder shape: the LMs are not copied into it
    ids = np.array([[2, 3, 3, 0]])  # "film plot plot" and padding
    model = _feature_model(encoder)
    states = keras.Model(model.input, model.get_layer("lm_recurrent").output)(ids).numpy()
    lm = keras.saving.load_model(str(tmp_path / "both" / "forward" / "model.keras"), compile=False)
    lm_states = lm.get_layer("recurrent")(lm.get_layer("embedding")(np.array([[4, 7, 7]]))).numpy()
    np.testing.assert_allclose(states[0, :3, :5], lm_states[0], atol=1e-5)
    backward = keras.saving.load_model(str(tmp_path / "both" / "backward" / "model.keras"), compile=False)
    reversed_states = backward.get_layer("recurrent")(backward.get_layer("embedding")(np.array([[7, 7, 4]])))
    np.testing.assert_allclose(states[0, :3, 5:], reversed_states.numpy()[0, ::-1], atol=1e-5)


def test_frozen_features_never_move_while_the_rest_trains(tmp_path):
    encoder = load_encoder(FeatureOptions(), ["", "[UNK]", "film", "plot"], 6, RNNConfig(),
                           lm_run(tmp_path / "lm"))
    model = _feature_model(encoder)
    assert not model.get_layer("lm_recurrent").trainable_weights
    assert not model.get_layer("lm_embedding").trainable_weights
    before = [w.numpy().copy() for w in model.weights]
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(np.array([[2, 3, 1]] * 8), np.random.rand(8, 3, 2), epochs=2, verbose=0)
    moved = {w.path.split("/")[0] for w, value in zip(model.weights, before) if not np.array_equal(value, w.numpy())}
    assert moved == {"embedding", "head"}
