"""The forecasting config: every mistake stops the load with one line naming the key."""
import pytest

from common import config as cfg
from common.errors import ConfigError
from tests.tasks.forecasting.helpers import demo_base


@pytest.mark.parametrize("values, message", [
    ({"data.split_ratios": [0.8, 0.3, 0.1]}, "'data.split_ratios': give three fractions"),
    ({"data.split": "rows", "data.split_rows": [10, 10]}, "'data.split_rows': give three row counts"),
    ({"data.split": "dates", "data.split_dates": ["2024-01-01"]}, "'data.split_dates': give two dates"),
    ({"data.covariate_columns": ["load"]}, r"share \['load'\]; a column is either forecast or a covariate"),
    ({"model.kind": "transformer"}, "'transformer' is not allowed; choose one of direct, seq2seq"),
    ({"data.lookback": 0}, "must be >= 1"),
    ({"model.rnn.cell": "rnn"}, "choose one of simple_rnn, lstm, gru"),
    ({"data.split": "dates", "data.split_dates": ["soon", "2024-02-01"]}, "cannot read 'soon' as a date"),
    ({"data.split": "dates", "data.split_dates": ["2024-02-01", "2024-01-01"]},
     "val start 2024-02-01 must come before the test start"),
    ({"data.frequency": "fortnightly"}, "'data.frequency': 'fortnightly' is not a pandas offset"),
])
def test_config_errors_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        cfg.with_values(demo_base(), values)


def test_patch_len_must_divide_lookback_when_the_config_loads():
    with pytest.raises(ConfigError, match=r"'model.patch_len': 5 must divide data.lookback \(48\)"):
        cfg.with_values(demo_base(), {"model.patch_len": 5})


@pytest.mark.parametrize("key", ["data.val", "data.test"])
def test_val_or_test_files_beside_path_are_refused_not_ignored(key):
    with pytest.raises(ConfigError, match=r"splits data.path in time \(data.split\), so it takes no "
                                          r"data.val/data.test"):
        cfg.with_values(demo_base(), {key: "other.csv"})


def test_path_and_train_together_are_refused():
    with pytest.raises(ConfigError, match="set data.path .* or data.train, not both"):
        cfg.with_values(demo_base(), {"data.train": "train.csv"})


def test_three_files_without_path_are_accepted():
    config = cfg.with_values(demo_base(), {"data.path": None, "data.train": "a.csv", "data.val": "b.csv",
                                           "data.test": "c.csv"})
    assert config.data.path is None and config.data.test == "c.csv"


@pytest.mark.parametrize("levels", [[0.0, 0.5], [0.5, 1.0], [0.9, 0.1], [0.1, 0.1, 0.9], [-0.2, 0.5]])
def test_quantile_levels_must_be_sorted_distinct_and_inside_zero_one(levels):
    with pytest.raises(ConfigError, match=r"'model.quantiles': give distinct levels strictly between 0 and 1 "
                                          r"in increasing order"):
        cfg.with_values(demo_base(), {"model.quantiles": levels})


@pytest.mark.parametrize("levels", [None, [], [0.5], [0.05, 0.5, 0.95]])
def test_no_quantiles_or_sorted_levels_load(levels):
    assert cfg.with_values(demo_base(), {"model.quantiles": levels}).model.quantiles == levels


@pytest.mark.parametrize("values, message", [
    ({"data.future_covariate_columns": ["load"]}, r"'data.future_covariate_columns' share \['load'\]"),
    ({"data.future_covariate_columns": ["temperature"]}, "list a column known in advance only in the second"),
    ({"data.calendar_features": ["hour"]}, "'hour' is not allowed; choose one of minute_of_hour, hour_of_day"),
    ({"data.calendar_features": ["hour_of_day", "hour_of_day"]}, "repeats a feature"),
])
def test_known_future_inputs_are_checked_when_the_config_loads(values, message):
    with pytest.raises(ConfigError, match=message):
        cfg.with_values(demo_base(), values)


@pytest.mark.parametrize("values, message", [
    ({"data.target_columns": ["timestamp"]}, "'data.target_columns': 'timestamp' is data.time_column"),
    ({"data.covariate_columns": ["timestamp"]}, "'data.covariate_columns': 'timestamp' is data.time_column"),
    ({"data.target_columns": ["load", "solar", "load"]},
     r"'data.target_columns': \['load'\] listed more than once"),
    ({"data.split_rows": [10, 10, 10]},
     r"'data.split_rows': \[10, 10, 10\] is ignored because data.split is ratio"),
    ({"data.split": "rows", "data.split_rows": [10, 10, 10],
      "data.split_dates": ["2024-01-02", "2024-01-03"]},
     "'data.split_dates'.* is ignored because data.split is rows"),
    ({"data.path": None, "data.train": "a.csv", "data.val": "b.csv", "data.test": "c.csv",
      "data.split": "rows", "data.split_rows": [10, 10, 10]},
     r"'data.split': 'rows' is ignored because data.train, data.val and data.test are separate files"),
])
def test_columns_in_two_roles_and_unused_split_options_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        cfg.with_values(demo_base(), values)


def test_split_ratios_left_in_the_config_do_not_stop_a_split_by_rows():
    config = cfg.with_values(demo_base(), {"data.split": "rows", "data.split_rows": [10, 10, 10],
                                          "data.split_ratios": [0.6, 0.2, 0.2]})
    assert config.data.split_rows == [10, 10, 10]


def test_split_ratios_beside_three_files_are_refused():
    with pytest.raises(ConfigError) as error:
        cfg.with_values(demo_base(), {"data.path": None, "data.train": "a.csv", "data.val": "b.csv",
                                      "data.test": "c.csv", "data.split_ratios": [0.6, 0.2, 0.2]})
    assert str(error.value) == ("config key 'data.split_ratios': [0.6, 0.2, 0.2] is ignored because "
                                "data.train, data.val and data.test are separate files (nothing is split); "
                                "remove it (or change the setting that makes it unused)")


def test_a_long_bad_value_is_quoted_short():
    with pytest.raises(ConfigError) as error:
        cfg.with_values(demo_base(), {"data.target_columns": ["t" * 5000], "data.time_column": "t" * 5000})
    assert str(error.value) == (f"config key 'data.target_columns': {cfg.shown('t' * 5000)} is "
                                "data.time_column (the timestamps); list value columns only")
    assert len(cfg.shown("t" * 5000)) == 200
