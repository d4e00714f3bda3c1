"""The fine-tuning schedule: gradual unfreezing, discriminative rates, warm-up."""
import keras
import numpy as np
import pytest

from common.errors import ConfigError
from common.layers.recurrent import RNNConfig
from common.pretrained.schedule import FineTuneSchedule, fine_tune_callbacks
from tests.common.pretrained.helpers import Options, encoder_layers
from tests.tasks.sentiment.helpers import load as load_sentiment


def test_gradual_unfreezing_trains_one_more_layer_from_the_top_each_epoch():
    schedule = FineTuneSchedule([[], [], []], "gradual", 2.0, 0)
    assert schedule.group_multipliers(0).tolist() == [1, 0, 0, 0]
    assert schedule.group_multipliers(1).tolist() == [1, 0, 0, 0.5]
    assert schedule.group_multipliers(5).tolist() == [1, 0.125, 0.25, 0.5]
    assert FineTuneSchedule([[], []], "frozen", 2.0, 0).group_multipliers(5).tolist() == [1, 0, 0]


def test_the_freezing_schedule_changes_which_weights_move():
    keras.utils.set_random_seed(0)
    model, embedding, block = encoder_layers(RNNConfig(units=4, layers=2))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    options = Options()
    options.warmup_epochs = 0.5
    x, y = np.random.randint(1, 4, (16, 5)), np.random.rand(16, 2)
    snapshots = [[w.numpy().copy() for w in model.weights]]

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([w.numpy().copy() for w in model.weights])

    model.fit(x, y, epochs=3, batch_size=8, verbose=0,
              callbacks=fine_tune_callbacks(options, embedding, block) + [Snapshot()])
    paths = [w.path for w in model.weights]

    def moved(epoch, prefix):
        return any(not np.array_equal(before, after) for before, after, path in
                   zip(snapshots[epoch], snapshots[epoch + 1], paths) if path.startswith(prefix))

    head = [w.path for w in model.layers[-1].weights][0].split("/")[0]
    assert moved(0, head) and not moved(0, "recurrent") and not moved(0, "embedding")
    assert moved(1, "recurrent/lstm_1") and not moved(1, "recurrent/lstm_0") and not moved(1, "embedding")
    assert moved(2, "recurrent/lstm_0") and not moved(2, "embedding")


def test_features_take_no_fine_tuning_schedule():
    with pytest.raises(ConfigError, match="model.pretrained_as: features"):
        load_sentiment({"model.pretrained_encoder": "lm", "model.pretrained_as": "features",
                        "model.fine_tune": "gradual"})
    options = load_sentiment({"model.pretrained_as": "features"}).model
    assert fine_tune_callbacks(options, None, None) == []
