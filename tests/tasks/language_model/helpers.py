"""Small configs and data for the language-model tests (tiny models, a few hundred tokens)."""
from pathlib import Path

from common import config as cfg
from common import lifecycle
from tasks.language_model import TASK

WORDS = "the cat sees the dog\nthe dogs see the cat\na bird sings\nthe cat sleeps\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def config_for(path, **values):
    """The demo config pointed at ``path``, tiny model, quiet training."""
    base = {"data.path": str(path), "model.embedding_dim": 8, "model.rnn.units": 8, "train.batch_size": 2,
            "train.epochs": 1, "train.verbose": "none", "train.tensorboard": False, "data.bptt": 4}
    return cfg.with_values(lifecycle.load_config(TASK, TASK.demo_config_path), {**base, **values})
