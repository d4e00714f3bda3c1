"""The serving function takes exactly the raw inputs the model needs, named and ordered."""
import numpy as np
import pytest
import tensorflow as tf

from tasks.forecasting.export import serving_functions
from tasks.forecasting.model import build_forecaster
from tests.tasks.forecasting.helpers import config_for


@pytest.mark.parametrize("columns, calendar, inputs", [
    ([], [], ["history"]),
    (["b"], [], ["history", "future_covariates"]),
    ([], ["hour_of_day"], ["history", "future_time"]),
    (["b"], ["day_of_week"], ["history", "future_covariates", "future_time"]),
])
def test_serving_inputs_follow_the_known_future_inputs(columns, calendar, inputs):
    config = config_for("unused.csv", **{"data.covariate_columns": [], "data.future_covariate_columns": columns,
                                         "data.calendar_features": calendar})
    state = {"features": ["a", "b"], "targets": ["a"], "mean": [1.0, 2.0], "scale": [2.0, 1.0],
             **({"future_covariates": columns, "calendar": calendar} if columns or calendar else {})}
    signature = serving_functions(build_forecaster(config, state), config, state)["serving_default"]
    assert [spec.name for spec in signature.input_signature] == inputs
    feeds = {"history": tf.ones([3, 8, 2]), "future_covariates": tf.ones([3, 2, 1]),
             "future_time": tf.constant(np.full((3, 2), 1_700_000_000, np.int64))}
    out = tf.function(signature.fn, input_signature=signature.input_signature)(**{k: feeds[k] for k in inputs})
    assert out["forecast"].shape == (3, 2, 1)


def test_served_forecast_is_in_the_data_units_on_a_series_with_a_known_answer():
    """With its head zeroed, a RevIN forecaster predicts each window's own mean (instance normalisation adds
    it back), so the SavedModel's function must return the mean of the raw history in the data's units:
    45 for a = 10, 20, ..., 80, whatever the training scaler (here mean 1, scale 2 for a)."""
    config = config_for("unused.csv", **{"data.covariate_columns": [], "model.instance_norm": True})
    state = {"features": ["a", "b"], "targets": ["a"], "mean": [1.0, 2.0], "scale": [2.0, 1.0]}
    model = build_forecaster(config, state)
    for weight in model.get_layer("forecaster").weights:
        if weight.path.endswith(("head/kernel", "head/bias", "revin_bias")):
            weight.assign(np.zeros(weight.shape, "float32"))
    signature = serving_functions(model, config, state)["serving_default"]
    history = np.stack([np.arange(10.0, 90.0, 10.0), np.full(8, 7.0)], axis=-1)[None].astype("float32")
    forecast = tf.function(signature.fn, input_signature=signature.input_signature)(history=history)["forecast"]
    np.testing.assert_allclose(forecast.numpy(), np.full((1, 2, 1), 45.0), rtol=1e-5)


@pytest.mark.parametrize("values, shape", [
    ({"model.kind": "seq2seq", "model.channel_independent": False}, (3, 2, 1)),
    ({"model.quantiles": [0.1, 0.5, 0.9], "model.head_dropout": 0.5}, (3, 2, 1, 3)),
    ({"data.future_covariate_columns": ["b"]}, (3, 2, 1)),
])
def test_seq2seq_quantile_and_known_future_forecasters_serve_what_the_model_computes(values, shape):
    """The served forecast equals the Keras model (inference mode) on inputs scaled with the saved scaler,
    times the target's scale plus its mean: a seq2seq model gets zero decoder inputs for the whole horizon,
    quantile levels are unscaled one by one, known-future covariates are scaled in the graph."""
    config = config_for("unused.csv", **{"data.covariate_columns": [], **values})
    future = list(config.data.future_covariate_columns)
    state = {"features": ["a", "b"], "targets": ["a"], "mean": [1.0, 2.0], "scale": [2.0, 4.0],
             **({"future_covariates": future, "calendar": []} if future else {})}
    model = build_forecaster(config, state)
    signature = serving_functions(model, config, state)["serving_default"]
    rng = np.random.default_rng(0)
    feeds = {"history": rng.normal(size=(3, 8, 2)).astype("float32")}
    inputs = {"history": (feeds["history"] - [1.0, 2.0]) / [2.0, 4.0]}
    if future:
        feeds["future_covariates"] = rng.normal(size=(3, 2, 1)).astype("float32")
        inputs["future_covariates"] = (feeds["future_covariates"] - 2.0) / 4.0
    if config.model.kind == "seq2seq":
        inputs["future"] = np.zeros((3, 2, len(model.get_layer("forecaster").future_channels())), "float32")
    served = tf.function(signature.fn, input_signature=signature.input_signature)(**feeds)["forecast"]
    scaled = np.asarray(model(inputs, training=False))
    assert served.shape == shape
    np.testing.assert_allclose(served.numpy(), scaled * 2.0 + 1.0, rtol=1e-4, atol=1e-4)


def test_conformal_shifts_move_the_served_levels_by_the_shift_times_the_targets_scale():
    """Shifts -1 (level 0.1) and +0.5 (level 0.9) on the standardized scale move the served levels by
    -2 and +1 in the data's units (the target's scale is 2); the point level stays."""
    config = config_for("unused.csv", **{"data.covariate_columns": [], "model.quantiles": [0.1, 0.5, 0.9]})
    state = {"features": ["a", "b"], "targets": ["a"], "mean": [1.0, 2.0], "scale": [2.0, 4.0]}
    model = build_forecaster(config, state)
    history = np.random.default_rng(0).normal(size=(3, 8, 2)).astype("float32")
    shifts = np.tile(np.array([-1.0, 0.0, 0.5], np.float32), (2, 1, 1))  # [horizon, targets, quantiles]
    served = {}
    for name, given in (("raw", None), ("calibrated", shifts)):
        signature = serving_functions(model, config, state, given)["serving_default"]
        serve = tf.function(signature.fn, input_signature=signature.input_signature)
        served[name] = serve(history)["forecast"]
    np.testing.assert_allclose(served["calibrated"].numpy() - served["raw"].numpy(),
                               np.broadcast_to([-2.0, 0.0, 1.0], (3, 2, 1, 3)), atol=1e-5)
