"""RecurrentForecaster: the layer harness, both kinds, and the model build_forecaster makes."""
import numpy as np
import pytest

from tasks.forecasting.model import PinballLoss, RecurrentForecaster, build_forecaster, point_index
from tests.harness import run_layer_test
from tests.tasks.forecasting.helpers import config_for

HISTORY = np.random.default_rng(0).normal(size=(2, 8, 3)).astype("float32")


@pytest.mark.parametrize("options", [
    {"kind": "direct", "rnn": {"cell": "gru", "units": 6}, "patch_len": 4, "d_model": 5, "head_dropout": 0.1},
    {"kind": "seq2seq", "rnn": {"cell": "lstm", "units": 6}, "channel_independent": False,
     "instance_norm": False},
    {"kind": "seq2seq", "rnn": {"cell": "gru", "units": 6, "bidirectional": True}, "patch_len": 2},
    {"kind": "direct", "rnn": {"cell": "gru", "units": 6}, "patch_len": 4, "linear_skip": True},
    {"kind": "direct", "rnn": {"cell": "lstm", "units": 6}, "channel_independent": False, "linear_skip": True},
    {"kind": "direct", "rnn": {"cell": "gru", "units": 6}, "patch_len": 2, "channel_embedding": 4},
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


@pytest.mark.parametrize("channel_independent", [True, False])
def test_linear_skip_adds_one_lookback_to_horizon_map_per_channel(channel_independent):
    layer = RecurrentForecaster(lookback=8, horizon=3, n_features=3, target_indices=[0, 2], instance_norm=False,
                                rnn={"cell": "gru", "units": 6}, channel_independent=channel_independent,
                                linear_skip=True)
    layer(HISTORY)
    layer.head.set_weights([np.zeros_like(w) for w in layer.head.get_weights()])  # silence the RNN path
    kernel = np.random.default_rng(3).normal(size=(8, 3)).astype("float32")
    layer.skip.set_weights([kernel, np.zeros(3, "float32")])
    expected = np.einsum("blf,lh->bhf", HISTORY, kernel)[:, :, [0, 2]]
    np.testing.assert_allclose(np.asarray(layer(HISTORY)), expected, rtol=1e-5, atol=1e-5)


def test_channel_embedding_lets_one_network_forecast_channels_differently():
    layer = RecurrentForecaster(lookback=8, horizon=3, n_features=3, target_indices=[0, 1, 2], instance_norm=False,
                                rnn={"cell": "gru", "units": 6}, channel_embedding=4)
    same = np.repeat(HISTORY[:, :, :1], 3, axis=2)  # three identical channels
    out = np.asarray(layer(same))
    assert not np.allclose(out[..., 0], out[..., 1])
    layer.channel_vectors.assign(np.zeros((3, 4), "float32"))  # no identity: identical inputs, identical outputs
    out = np.asarray(layer(same))
    np.testing.assert_allclose(out[..., 0], out[..., 1], rtol=1e-6)


@pytest.mark.parametrize("kind, inputs", [("direct", ["history"]), ("seq2seq", ["future", "history"])])
def test_the_model_takes_scaled_history_and_forecasts_the_targets(kind, inputs):
    config = config_for("unused.csv", **{"model.kind": kind})
    model = build_forecaster(config, {"features": ["a", "b"], "targets": ["a"]})
    assert sorted(model.input.keys()) == inputs
    assert model.output.shape == (None, 2, 1) and model.get_layer("forecaster").target_indices == [0]


KNOWN = np.random.default_rng(1).normal(size=(2, 3, 3)).astype("float32")  # 1 column + 2 calendar features


@pytest.mark.parametrize("options", [
    {"kind": "direct", "rnn": {"cell": "gru", "units": 6}, "patch_len": 4},
    {"kind": "seq2seq", "rnn": {"cell": "lstm", "units": 6}, "channel_independent": False},
])
def test_forecaster_with_quantiles_and_known_future_inputs_passes_the_layer_harness(tmp_path, options):
    init = dict(lookback=8, horizon=3, n_features=3, target_indices=[0, 2], quantiles=[0.1, 0.5, 0.9],
                future_covariate_indices=[1], n_calendar=2, **options)
    run_layer_test(RecurrentForecaster, init, HISTORY, tmp_path, expected_output_shape=(2, 3, 2, 3),
                   call_kwargs={"future_covariates": KNOWN})


@pytest.mark.parametrize("quantiles, point", [([0.1, 0.5, 0.9], 1), ([0.05, 0.25, 0.6, 0.95], 2), ([0.9], 0)])
def test_quantile_levels_never_cross_and_the_level_nearest_half_is_the_point(quantiles, point):
    layer = RecurrentForecaster(lookback=8, horizon=3, n_features=3, target_indices=[0, 2], quantiles=quantiles,
                                rnn={"cell": "gru", "units": 6})
    history = np.random.default_rng(2).normal(scale=50, size=(16, 8, 3)).astype("float32")
    out = np.asarray(layer(history))
    assert out.shape == (16, 3, 2, len(quantiles)) and point_index(quantiles) == point
    assert (np.diff(out, axis=-1) >= 0).all()


def test_known_future_inputs_are_required_when_the_layer_takes_them():
    layer = RecurrentForecaster(lookback=8, horizon=3, n_features=3, target_indices=[0], n_calendar=1)
    with pytest.raises(ValueError, match=r"pass future_covariates \[batch, 3, 1\]"):
        layer(HISTORY)


def test_pinball_loss_matches_the_hand_computed_value():
    y_true = np.array([[1.0, 2.0]])
    y_pred = np.array([[[0.0, 2.0], [2.5, 3.0]]])  # levels 0.1 and 0.9 for two values
    # y - prediction: 1 at 0.1 -> 0.1; -1 at 0.9 -> 0.1; -0.5 at 0.1 -> 0.45; -1 at 0.9 -> 0.1
    expected = (0.1 + 0.1 + 0.45 + 0.1) / 4
    assert float(PinballLoss([0.1, 0.9])(y_true, y_pred)) == pytest.approx(expected)


def test_the_model_takes_known_future_inputs_and_emits_quantiles():
    config = config_for("unused.csv", **{"model.quantiles": [0.2, 0.8], "data.covariate_columns": [],
                                         "data.future_covariate_columns": ["b"],
                                         "data.calendar_features": ["hour_of_day"]})
    state = {"features": ["a", "b"], "targets": ["a"], "future_covariates": ["b"], "calendar": ["hour_of_day"]}
    model = build_forecaster(config, state)
    assert sorted(model.input.keys()) == ["future_covariates", "history"]
    assert model.input["future_covariates"].shape == (None, 2, 2) and model.output.shape == (None, 2, 1, 2)
