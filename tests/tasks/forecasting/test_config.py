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
