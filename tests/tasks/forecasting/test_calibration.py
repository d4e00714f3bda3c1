"""Conformal calibration of quantile forecasts: the promised coverage on a series with known noise, the
order statistics it takes, the scores evaluation reports before and after it, and the export serving it."""
import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common.errors import ConfigError
from tasks.forecasting import TASK, calibration, evaluation, export
from tasks.forecasting.data import ForecastingPrepared
from tasks.forecasting.model import build_forecaster
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv

LEVELS = [0.1, 0.5, 0.9]
Z90 = 1.2815516  # the standard normal's 0.9 quantile


def noisy_sine(rng, windows, sd):
    """Targets ``sin(t) + N(0, sd)`` ``[windows, 3, 1]`` and quantile forecasts centred on ``sin(t)`` whose
    0.1/0.9 levels are half as far out as the noise's true ones: an 80 % interval that covers about 48 %."""
    mean = np.sin(rng.uniform(0, 100, size=(windows, 3, 1)))
    y = mean + rng.normal(0, sd, size=mean.shape)
    half = 0.5 * Z90 * sd
    return y, np.stack([mean - half, mean, mean + half], axis=-1).astype(np.float32)


def test_conformal_shifts_give_a_too_narrow_interval_its_promised_coverage_and_the_true_width():
    rng, sd = np.random.default_rng(0), 0.3
    y_val, q_val = noisy_sine(rng, 2000, sd)
    y_test, q_test = noisy_sine(rng, 20000, sd)
    calibrated = np.asarray(calibration.apply(q_test, calibration.fit_shifts(y_val, q_val, LEVELS), LEVELS))

    def coverage(q):
        return float(((y_test >= q[..., 0]) & (y_test <= q[..., -1])).mean())

    # Sampling error: about 0.009 from the 2,000 calibration windows, 0.002 from the 60,000 test values.
    assert coverage(q_test) == pytest.approx(0.48, abs=0.02)  # before: far below 80 %
    assert coverage(calibrated) == pytest.approx(0.80, abs=0.03)  # after: 80 %
    width = float((calibrated[..., -1] - calibrated[..., 0]).mean())
    assert width == pytest.approx(2 * Z90 * sd, rel=0.05)  # the noise's own 80 % interval
    np.testing.assert_array_equal(calibrated[..., 1], q_test[..., 1])  # the point forecast stays


def test_with_nine_residuals_the_outer_levels_move_by_the_smallest_and_the_largest():
    """n = 9: level 0.1 takes the floor(10 * 0.1) = 1st smallest residual, 0.9 the ceil(10 * 0.9) = 9th."""
    y = np.array([3.0, -2.0, 0.5, 0.0, 1.0, -1.0, 0.2, 0.4, -0.5]).reshape(9, 1, 1)
    shifts = calibration.fit_shifts(y, np.zeros((9, 1, 1, 3), np.float32), LEVELS)
    np.testing.assert_array_equal(shifts[0, 0], [-2.0, 0.0, 3.0])


@pytest.mark.parametrize("levels, windows", [([0.1, 0.5, 0.9], 9), ([0.05, 0.5, 0.95], 19),
                                             ([0.25, 0.5, 0.8], 4)])
def test_the_fewest_validation_windows_are_those_whose_order_statistics_exist(levels, windows):
    assert calibration.min_windows(levels) == windows


def test_shifted_levels_never_cross_the_point_forecast_or_each_other():
    """Step 1: the two lower levels swap and level 0.9 falls below the point. Step 2: 0.1 rises above it."""
    forecast = np.tile(np.array([-2.0, -1.0, 0.0, 1.0, 2.0], np.float32), (1, 2, 1, 1))
    shifts = np.array([[[1.5, -0.5, 0.0, -3.0, 0.0]], [[0.0, 1.5, 0.0, 0.0, 0.0]]], np.float32)
    moved = np.asarray(calibration.apply(forecast, shifts, [0.05, 0.1, 0.5, 0.9, 0.95]))
    np.testing.assert_array_equal(moved[0, :, 0], [[-1.5, -0.5, 0.0, 0.0, 2.0], [-2.0, 0.0, 0.0, 1.0, 2.0]])


def test_too_few_validation_windows_for_conformal_calibration_stop_the_run_before_it_starts(tmp_path):
    config = config_for(write_csv(tmp_path / "s.csv", hourly(40)), **{"model.quantiles": LEVELS})
    with pytest.raises(ConfigError, match=r"'model.calibration': conformal needs at least 9 validation "
                                          r"windows to calibrate the levels \[0.1, 0.5, 0.9\], but the val "
                                          r"split has 7"):
        TASK.prepare(config)
    TASK.prepare(cfg.with_values(config, {"model.calibration": "none"}))  # uncalibrated: no such need


# ---- evaluation on a hand-checked case -----------------------------------------------------------
class FixedQuantiles:
    """A stand-in for the Keras model: every window gets the levels -1, 0, 1."""

    def predict(self, inputs, batch_size, verbose):
        return np.tile(np.array([-1.0, 0.0, 1.0], np.float32), (len(inputs["history"]), 1, 1, 1))


def hand_case(calibration_option):
    """Lookback 2, horizon 1, scaler mean 0 and scale 1 (so scaled values are the data's units). The
    nine validation targets span -2 .. 3; the four test targets are 0.5, 2, -3, 0."""
    config = config_for("unused.csv", **{"data.lookback": 2, "data.horizon": 1, "model.patch_len": 1,
                                 "data.covariate_columns": [], "model.quantiles": LEVELS,
                                 "model.calibration": calibration_option})
    rows = {"train": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0], "val": [0.0, 0.0, 3.0, -2.0, 0, 0, 0, 0, 0, 0, 0],
            "test": [0.0, 0.0, 0.5, 2.0, -3.0, 0.0]}
    scaled = {name: np.array(values, np.float32)[:, None] for name, values in rows.items()}
    state = {"features": ["a"], "targets": ["a"], "mean": [0.0], "scale": [1.0], "mase_scale": [1.0]}
    known = {name: np.zeros((len(v), 0), np.float32) for name, v in scaled.items()}
    times = {name: np.zeros(len(v), np.int64) for name, v in scaled.items()}
    prepared = ForecastingPrepared(train=None, val=None, test=None, state=state, scaled=scaled, known=known,
                                   times=times)
    return config, prepared


def test_raw_and_calibrated_coverage_width_and_weighted_quantile_loss_on_a_hand_checked_case(tmp_path):
    """Raw interval [-1, 1]: 0.5 and 0 inside (coverage 2/4), width 2; pinball sums 2.35, 2.75 and 1.45
    over sum |y| = 5.5, so mean wQL = 2 (2.35 + 2.75 + 1.45) / (3 * 5.5). Calibrated on the validation
    targets (0.1 moves by their smallest residual +1 - 2 = -1, 0.9 by their largest 3 - 1 = 2):
    [-2, 3] holds 3 of 4, width 5, pinball sums 1.75, 2.75 and 1.25."""
    config, prepared = hand_case("conformal")
    scores = evaluation.evaluate(FixedQuantiles(), config, prepared, "test", tmp_path)
    assert scores["coverage"] == pytest.approx(0.5) and scores["interval_width"] == pytest.approx(2.0)
    assert scores["mean_wql"] == pytest.approx(2 * (2.35 + 2.75 + 1.45) / (3 * 5.5))
    assert scores["coverage_calibrated"] == pytest.approx(0.75)
    assert scores["interval_width_calibrated"] == pytest.approx(5.0)
    assert scores["mean_wql_calibrated"] == pytest.approx(2 * (1.75 + 2.75 + 1.25) / (3 * 5.5))


def test_calibration_none_reports_the_levels_as_trained_only(tmp_path):
    config, prepared = hand_case("none")
    scores = evaluation.evaluate(FixedQuantiles(), config, prepared, "test", tmp_path)
    assert scores["coverage"] == pytest.approx(0.5)
    assert not [name for name in scores if name.endswith("_calibrated")]


# ---- the export ---------------------------------------------------------------------------------
def test_the_export_serves_the_calibrated_levels_that_reference_outputs_computes(tmp_path):
    """An untrained quantile forecaster on a random walk: its levels move once calibrated, and the
    SavedModel's function returns the moved ones, as the task's reference path computes them."""
    rows = [f"{row.split(',')[0]},{v:.4f},0" for row, v in
            zip(hourly(120), np.random.default_rng(1).normal(size=120).cumsum())]
    config = config_for(write_csv(tmp_path / "s.csv", rows),
                        **{"model.quantiles": LEVELS, "model.rnn.units": 4})
    prepared = TASK.prepare(config)
    model = build_forecaster(config, prepared.state)
    signature = TASK.serving_functions(model, config, prepared)["serving_default"]
    inputs, expected = TASK.reference_outputs(model, config, prepared)["serving_default"]
    serve = tf.function(signature.fn, input_signature=signature.input_signature)
    served = serve(**inputs)["forecast"].numpy()
    np.testing.assert_allclose(served, expected["forecast"], rtol=1e-4, atol=1e-4)
    raw = export.serving_functions(model, config, prepared.state)["serving_default"]
    uncalibrated = tf.function(raw.fn, input_signature=raw.input_signature)(**inputs)["forecast"].numpy()
    assert np.abs(served - uncalibrated)[..., [0, 2]].min() > 1e-3  # both outer levels moved
    np.testing.assert_allclose(served[..., 1], uncalibrated[..., 1], rtol=1e-5)  # the point did not
