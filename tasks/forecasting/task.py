"""Time-series forecasting: a recurrent network forecasts ``horizon`` steps from ``lookback`` steps.

    python -m tasks.forecasting train --config configs/forecasting_etth1.yaml

Data is a CSV with a time column, target columns and optional covariates. The
split is chronological, the scaler is fitted on the training rows only, and the
exported SavedModel takes raw history in original units and returns the
forecast in original units. The hooks below delegate to the package's modules:
`data` (prepare), `model`, `evaluation` and `export`.
"""
from __future__ import annotations

from common.errors import ConfigError
from common.task import Demo, Task
from tasks.forecasting import calibration, data, demo_data, evaluation, export
from tasks.forecasting.config import ForecastingDataConfig, ForecastingModelConfig
from tasks.forecasting.data import ForecastingPrepared
from tasks.forecasting.model import PinballLoss, build_forecaster
from tasks.forecasting.windows import count_windows


class ForecastingTask(Task):
    name = "forecasting"
    data_config = ForecastingDataConfig
    model_config = ForecastingModelConfig
    default_monitor = "val_loss"
    demo = Demo(demo_data.make_data, demo_data.predict_input)
    description = "Multi-horizon time-series forecasting with a recurrent encoder."
    predict_input_help = ("CSV with the time column and the trained target and covariate columns, at least "
                          "data.lookback rows; the forecast covers the data.horizon steps after its last row. "
                          "With data.future_covariate_columns, end it with data.horizon rows holding the "
                          "timestamps and those columns' known values, target cells empty.")

    def check_config(self, config) -> None:
        if config.data.lookback % config.model.patch_len:
            raise ConfigError(f"config key 'model.patch_len': {config.model.patch_len} must divide "
                              f"data.lookback ({config.data.lookback}); change one of them")

    # ---- data -------------------------------------------------------------------------
    def prepare(self, config, state=None) -> ForecastingPrepared:
        prepared = data.prepare(config, state)
        d = config.data
        val_windows = count_windows(len(prepared.scaled["val"]), d.lookback, d.horizon)
        calibration.check_windows(config.model, val_windows)
        return prepared

    # ---- model ------------------------------------------------------------------------
    def build_model(self, config, prepared: ForecastingPrepared):
        return build_forecaster(config, prepared.state)

    def compile_args(self, config, prepared):
        if config.model.quantiles:
            return {"loss": PinballLoss(config.model.quantiles), "metrics": []}
        metrics = ["mae"] if config.model.loss != "mae" else ["mse"]
        return {"loss": config.model.loss, "metrics": metrics}

    # ---- evaluation -------------------------------------------------------------------
    def evaluate(self, model, config, prepared: ForecastingPrepared, split, run) -> dict:
        return evaluation.evaluate(model, config, prepared, split, run.plots_dir)

    def baselines(self, config, prepared: ForecastingPrepared, split) -> dict:
        return evaluation.baselines(config, prepared, split)

    def headline_metrics(self):
        return ["mse", "mae", "mse_original", "mae_original", "rmse_original", "mape", "smape", "mase",
                "mean_wql", "coverage", "interval_width", "mean_wql_calibrated", "coverage_calibrated",
                "interval_width_calibrated"]

    # ---- export and predict -----------------------------------------------------------
    def serving_functions(self, model, config, prepared: ForecastingPrepared) -> dict:
        return export.serving_functions(model, config, prepared.state,
                                        evaluation.calibration_shifts(model, config, prepared))

    def serving_example(self, config, prepared: ForecastingPrepared) -> dict:
        return export.serving_example(config, prepared)

    def reference_outputs(self, model, config, prepared: ForecastingPrepared) -> dict:
        return export.reference_outputs(model, config, prepared)

    def predict_file(self, serve, config, state, input_path, output_path) -> dict:
        return export.predict_file(serve, config, state, input_path, output_path)


TASK = ForecastingTask()
