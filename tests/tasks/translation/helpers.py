"""What the translation tests share: a tiny model config on top of the demo config."""
from pathlib import Path

from common import lifecycle
from tasks.translation import TASK

TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none", "model.embedding_dim": 8,
        "model.encoder.units": 8, "model.decoder_units": 16, "model.attention_units": 8,
        "model.attention_plots": 1, "model.max_output_length": 8, "model.eval_greedy": False}


def config_for(**values):
    overrides = [f"{k}={v}" for k, v in {**TINY, **values}.items()]
    return lifecycle.load_config(TASK, TASK.demo_config_path, overrides)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)
