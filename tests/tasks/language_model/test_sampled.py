"""The sampled softmax (model.sampled_softmax): its loss, its sample, and a training step that never scores
the whole vocabulary."""
import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common.errors import ConfigError
from common.training import compile_model
from tasks.language_model import TASK
from tasks.language_model.model import LossInUnits, build_language_model
from tasks.language_model.sampled import log_expected_count, log_uniform_sample, sampled_softmax_loss
from tests.tasks.language_model.helpers import WORDS, config_for, write


def test_the_loss_equals_tensorflows_sampled_softmax_on_the_same_sample():
    rng = np.random.default_rng(0)
    vocabulary, count = 12, 6
    weights = tf.constant(rng.normal(size=(vocabulary, 4)), tf.float32)
    biases = tf.constant(rng.normal(size=vocabulary), tf.float32)
    features = tf.constant(rng.normal(size=(9, 4)), tf.float32)
    targets = tf.constant(rng.integers(0, vocabulary, 9), tf.int32)
    seed = tf.constant([3, 7], tf.int64)
    sampled = log_uniform_sample(count, vocabulary, seed)
    assert set(sampled.numpy()) & set(targets.numpy())  # some accidental hits, which both leave out
    ours = sampled_softmax_loss(features, targets, lambda ids: tf.gather(weights, ids), biases, vocabulary, count,
                                seed)
    expected = tf.nn.sampled_softmax_loss(
        weights, biases, tf.cast(targets[:, None], tf.int64), features, count, vocabulary,
        sampled_values=(tf.cast(sampled, tf.int64), tf.exp(log_expected_count(targets, count, vocabulary))[:, None],
                        tf.exp(log_expected_count(sampled, count, vocabulary))),
        remove_accidental_hits=True)
    np.testing.assert_allclose(ours.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_the_sample_follows_the_frequency_ranks():
    ids = log_uniform_sample(20000, 1000, tf.constant([1, 2], tf.int64)).numpy()
    assert ids.min() >= 0 and ids.max() <= 999
    share = np.bincount(ids, minlength=1000) / ids.size
    assert share[0] == pytest.approx(np.log(2) / np.log(1001), abs=0.01)  # P(0) = log 2 / log(V + 1)
    assert share[:10].sum() > share[10:100].sum() / 2 > share[900:].sum()


def test_the_sample_is_a_function_of_the_seed_and_step():
    def draw(seed, step):
        return log_uniform_sample(50, 1000, tf.constant([seed, step], tf.int64)).numpy()

    np.testing.assert_array_equal(draw(1, 5), draw(1, 5))  # a resumed run draws what it drew before
    assert not np.array_equal(draw(1, 5), draw(1, 6))
    assert not np.array_equal(draw(1, 5), draw(2, 5))


@pytest.fixture
def prepared_config(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS * 6), **{"model.sampled_softmax": 2})
    return config, TASK.prepare(config)


@pytest.mark.parametrize("tied", [False, True])
def test_a_training_step_moves_only_the_sampled_and_target_outputs(prepared_config, tied):
    config, prepared = prepared_config
    config = cfg.with_values(config, {"model.tie_embeddings": tied})
    model = build_language_model(config, len(prepared.state["vocabulary"]), prepared.ids["train"])
    compile_model(TASK, model, config, prepared)
    layer = model.get_layer("embedding" if tied else "logits")
    bias = layer.logit_bias if tied else layer.bias
    before = bias.numpy().copy()
    tokens, targets = next(iter(prepared.train))
    model.train_on_batch(tokens, targets)
    moved = np.flatnonzero(~np.isclose(bias.numpy(), before, rtol=0, atol=1e-9))
    seed = tf.constant([config.seed, 0], tf.int64)
    scored = set(log_uniform_sample(2, len(before), seed).numpy()) | set(np.asarray(targets).ravel())
    assert len(moved) and set(moved) <= scored  # a full softmax would move every word's bias
    assert len(scored) < len(before)


def test_a_trained_sampled_model_scores_with_the_full_softmax(prepared_config):
    config, prepared = prepared_config
    config = cfg.with_values(config, {"train.epochs": 8, "train.learning_rate": 0.05})
    model = TASK.build_model(config, prepared)
    compile_model(TASK, model, config, prepared)
    start = model.evaluate(prepared.val, verbose=0)
    model.get_layer("recurrent").reset_states()
    model.fit(prepared.train, epochs=8, verbose=0, callbacks=TASK.callbacks(model, config, prepared))
    model.get_layer("recurrent").reset_states()
    assert model.evaluate(prepared.val, verbose=0) < start - 0.5  # the full validation loss fell
    assert model.output_shape[-1] == len(prepared.state["vocabulary"])


def test_a_saved_sampled_model_loads_as_the_same_graph(prepared_config, tmp_path):
    import keras

    config, prepared = prepared_config
    model = TASK.build_model(config, prepared)
    model.save(str(tmp_path / "model.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "model.keras"), compile=False)
    x = np.array([[3, 4, 5], [5, 4, 3]], "int32")
    model.get_layer("recurrent").reset_states()
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_a_sample_as_large_as_the_vocabulary_is_one_error(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS * 6), **{"model.sampled_softmax": 500})
    with pytest.raises(ConfigError, match="model.sampled_softmax.*fewer than"):
        TASK.prepare(config)


def test_the_sampled_training_loss_is_not_reported_as_a_perplexity():
    logs = {"loss": 2.0, "val_loss": 3.0}
    LossInUnits("word", sampled=True).on_epoch_end(0, logs)
    assert "perplexity" not in logs and logs["val_perplexity"] == pytest.approx(np.exp(3.0))
    logs = {"loss": 2.0, "val_loss": 3.0}
    LossInUnits("word").on_epoch_end(0, logs)
    assert logs["perplexity"] == pytest.approx(np.exp(2.0))

