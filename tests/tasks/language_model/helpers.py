"""Small configs and data for the language-model tests (tiny models, a few hundred tokens)."""
import json
from pathlib import Path

import keras
import numpy as np

from common import config as cfg
from common import lifecycle
from tasks.language_model import TASK
from tasks.language_model.model import build_language_model

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


# the vocabulary of `lm_run`: padding, unknown, end of line, then words
LM_WORDS = ["", "<unk>", "<eos>", "the", "film", "was", "good", "plot"]


def lm_run(folder, direction="forward", embedding_dim=6, units=5, layers=2, cell="lstm", vocabulary=None):
    """A language-model run folder (untrained weights: only their copying is under test); word-level over
    `LM_WORDS`, or character-level over ``vocabulary`` (padding, unknown, newline, characters) if given."""
    granularity = "char" if vocabulary else "word"
    vocabulary = vocabulary or LM_WORDS
    config = lifecycle.load_config(TASK, TASK.demo_config_path, [
        f"model.embedding_dim={embedding_dim}", f"model.rnn.units={units}", f"model.rnn.layers={layers}",
        f"model.rnn.cell={cell}", "data.batching=line", f"data.direction={direction}",
        f"data.granularity={granularity}"])
    keras.utils.set_random_seed(len(str(folder)))
    model = build_language_model(config, len(vocabulary))
    model(np.zeros((1, 3), "int32"))
    folder.mkdir(parents=True)
    model.save(str(folder / "model.keras"))
    cfg.save_yaml(cfg.to_dict(config), folder / "config.yaml")
    (folder / "state.json").write_text(json.dumps({"granularity": granularity, "direction": direction,
                                                   "vocabulary": vocabulary}))
    (folder / "metrics.json").write_text(json.dumps({"test": {"perplexity": 42.0}}))
    return folder
