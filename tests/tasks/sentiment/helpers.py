"""What the sentiment tests share: the demo config with overrides, tiny sizes, and small CSV files."""
import csv

from common import config as cfg
from common import lifecycle
from tasks.sentiment import TASK

TINY = {"train.epochs": 1, "train.verbose": "none", "train.tensorboard": False,
        "model.rnn.units": 8, "model.embedding_dim": 8, "model.attention_units": 8}
LONG_TEXT = ("the acting was tedious" + " and the script was dull" * 400)


def load(overrides=None, **values):
    """The demo config with dotted-key values applied (validated like the CLI does)."""
    config = lifecycle.load_config(TASK, TASK.demo_config_path,
                                   [f"{k}={v}" for k, v in (overrides or {}).items()])
    return cfg.with_values(config, values) if values else config


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return str(path)


def tiny_prepared(tmp_path, **values):
    """Config and prepared data for 20 two-word reviews (enough to build and run a model)."""
    path = write_csv(tmp_path / "d.csv", [[f"good film {i}", "pos"] for i in range(10)] +
                     [[f"bad film {i}", "neg"] for i in range(10)])
    config = load(**{"data.path": path, **TINY, **values})
    return config, TASK.prepare(config)
