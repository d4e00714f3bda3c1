"""Small CSV series and configs shared by the forecasting tests."""
import pandas as pd

from common import config as cfg
from common import lifecycle
from tasks.forecasting import TASK

TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none"}


def write_csv(path, rows, header="date,a,b"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def hourly(n, start="2024-01-01"):
    """``n`` hourly rows ``time,i,2i``."""
    times = pd.date_range(start, periods=n, freq="h")
    return [f"{t:%Y-%m-%d %H:%M:%S},{i},{2 * i}" for i, t in enumerate(times)]


def demo_base():
    return lifecycle.load_config(TASK, TASK.demo_config_path)


def config_for(path, **values):
    """Target a, covariate b, lookback 8, horizon 2, a 60/20/20 split of ``path`` (``None``: the three files
    the values name, and no split ratios, which would be ignored)."""
    split = {} if path is None else {"data.split_ratios": [0.6, 0.2, 0.2]}
    base = {"data.path": None if path is None else str(path), "data.time_column": "date", "data.target_columns": ["a"],
            "data.covariate_columns": ["b"], "data.lookback": 8, "data.horizon": 2, **split,
            "model.patch_len": 4, "data.seasonal_period": 4, **TINY}
    return cfg.with_values(demo_base(), {**base, **values})
