"""The forecasting evaluation and its baselines, and the warning when a baseline beats the model."""
from types import SimpleNamespace

import numpy as np
import pytest

from common import lifecycle
from common.cli import main
from common.config import save_yaml, to_dict
from common.report import fmt
from tasks.forecasting import TASK
from tasks.forecasting.evaluation import baseline_warning, split_windows, validation_baselines
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv


def test_seasonal_naive_is_exact_on_a_purely_seasonal_series(tmp_path):
    season = [1, 5, 2, 7]  # data.seasonal_period is 4 in config_for
    rows = [f"{row.split(',')[0]},{season[i % 4]},{i}" for i, row in enumerate(hourly(96))]
    config = config_for(write_csv(tmp_path / "s.csv", rows))
    scores = TASK.baselines(config, TASK.prepare(config), "test")
    assert scores["seasonal_naive"]["mae_original"] == pytest.approx(0, abs=1e-9)
    assert scores["naive"]["mae_original"] > 1



def test_every_baseline_gets_the_quantiles_of_its_own_training_errors(tmp_path):
    """On a purely seasonal series the seasonal naive forecast never errs, so its band is the truth
    itself (all of it covered, width 0, no quantile loss); the last value's errors spread its band."""
    season = [1, 5, 2, 7]
    rows = [f"{row.split(',')[0]},{season[i % 4]},{i}" for i, row in enumerate(hourly(96))]
    config = config_for(write_csv(tmp_path / "s.csv", rows), **{"model.quantiles": [0.1, 0.5, 0.9]})
    scores = TASK.baselines(config, TASK.prepare(config), "test")
    seasonal = scores["seasonal_naive"]
    assert (seasonal["coverage"], seasonal["interval_width"], seasonal["mean_wql"]) == (1.0, 0.0, 0.0)
    assert scores["naive"]["interval_width"] > 1 and "mean_wql" in scores["linear"]


# ---- saying when a baseline wins ------------------------------------------------------------------
def test_no_warning_while_the_model_beats_or_ties_every_baseline():
    assert baseline_warning(0.5, {"naive": 0.9, "linear": 0.5}) is None


def test_the_warning_names_the_best_baseline_with_both_figures():
    assert baseline_warning(0.5, {"naive": 0.41, "seasonal_naive": 0.2, "linear": 0.3}) == (
        "the seasonal_naive baseline (the last season repeated) beats the model on the validation split: "
        "MSE 0.2000 against the model's 0.5000 (standardized scale); improve the model, or use the baseline, "
        "before relying on this forecast")


def test_on_a_random_walk_the_run_summary_and_report_say_the_last_value_beats_an_undertrained_model(
        tmp_path, capsys):
    steps = np.random.default_rng(0).normal(size=300)
    rows = [f"{row.split(',')[0]},{v:.4f},0" for row, v in zip(hourly(300), 10 * steps.cumsum())]
    config = config_for(write_csv(tmp_path / "walk.csv", rows),
                        **{"model.rnn.units": 4, "train.learning_rate": 1e-5, "data.seasonal_period": 24})
    save_yaml(to_dict(config), tmp_path / "walk.yaml")
    main(TASK, ["train", "--config", str(tmp_path / "walk.yaml"), "--run-dir", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    _, config, state, model = lifecycle.load_run(TASK, tmp_path / "run")
    prepared = TASK.prepare(config, state)
    history, y_true = split_windows(config, prepared, "val")
    naive = float(np.mean((y_true - history[:, -1:, :1]) ** 2))  # the last value, by hand
    model_mse = TASK.evaluate(model, config, prepared, "val", SimpleNamespace(plots_dir=tmp_path))["mse"]
    assert naive < model_mse and min(validation_baselines(config, prepared).values()) == pytest.approx(naive)
    sentence = (f"the naive baseline (the last value repeated) beats the model on the validation split: "
                f"MSE {fmt(naive)} against the model's {fmt(model_mse)} (standardized scale)")
    assert f"baseline_warning: {sentence}" in printed
    assert sentence in (tmp_path / "run" / "report.md").read_text()
