"""A tiny ner config on the demo data, shared by the ner tests."""
from common import lifecycle
from tasks.ner import TASK

TINY = ["train.epochs=1", "train.batch_size=16", "data.max_examples=48", "model.embedding_dim=8",
        "model.char_dim=4", "model.char_units=4", "model.rnn.units=8", "train.verbose=none"]


def tiny_config(folder, *extra):
    """Demo data written under ``folder/data`` and a config sized to run in seconds."""
    overrides = TASK.demo.make_data(folder / "data")
    sets = [f"{k}={v}" for k, v in overrides.items()] + TINY + list(extra)
    return lifecycle.load_config(TASK, TASK.demo_config_path, sets)
