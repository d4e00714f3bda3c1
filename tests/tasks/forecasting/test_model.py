"""RecurrentForecaster: the layer harness, both kinds, and the model build_forecaster makes."""
import numpy as np
import pytest

from tasks.forecasting.model import RecurrentForecaster, build_forecaster
from tests.harness import run_layer_test
from tests.tasks.forecasting.helpers import config_for

HISTORY = np.random.default_rng(0).normal(size=(2, 8, 3)).astype("float32")


@pytest.mark.parametrize("options", [
    {"kind": "direct", "rnn": {"cell": "gru", "units": 6}, "patch_len": 4, "d_model": 5, "head_dropout": 0.1},
    {"kind": "seq2seq", "rnn": {"cell": "lstm", "units": 6}, "channel_independent": False,
     "instance_norm": False},
    {"kind": "seq2seq", "rnn": {"cell": "gru", "units": 6, "bidirectional": True}, "patch_len": 2},
])
def test_forecaster_passes_the_layer_harness(tmp_path, options):
    init = dict(lookback=8, horizon=3, n_features=3, target_indices=[0, 2], **options)
    run_layer_test(RecurrentForecaster, init, HISTORY, tmp_path, expected_output_shape=(2, 3, 2))


def test_teacher_forcing_feeds_the_true_future_in_training():
    layer = RecurrentForecaster(lookback=8, horizon=3, n_features=3, target_indices=[0], kind="seq2seq",
                                rnn={"cell": "gru", "units": 6})
    future = np.ones((2, 3, len(layer.future_channels())), "float32")
    forced = layer(HISTORY, future, training=True)
    free = layer(HISTORY, training=True)
    assert forced.shape == free.shape == (2, 3, 1)
    assert not np.allclose(forced[:, 1:], free[:, 1:])  # steps after the first see the given values


@pytest.mark.parametrize("kind, inputs", [("direct", ["history"]), ("seq2seq", ["future", "history"])])
def test_the_model_takes_scaled_history_and_forecasts_the_targets(kind, inputs):
    config = config_for("unused.csv", **{"model.kind": kind})
    model = build_forecaster(config, {"features": ["a", "b"], "targets": ["a"]})
    assert sorted(model.input.keys()) == inputs
    assert model.output.shape == (None, 2, 1) and model.get_layer("forecaster").target_indices == [0]
