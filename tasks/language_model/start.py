"""A language model that starts from another run (``model.init_from``): ULMFiT's second stage.

A general language model, trained on a large text, goes on training on in-domain text with the same
vocabulary and weights (Howard & Ruder 2018, "target task LM fine-tuning"): the new run's state is the
old run's (vocabulary, granularity, direction), its model starts from the old weights. The run is read
and checked in ``prepare``, before anything of the new run is written.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ConfigError, DataError
from common.run import RunFolder

# the config keys that decide the weights' shapes (dropouts and the implementation do not)
SHAPE_KEYS = ("model.embedding_dim", "model.tie_embeddings", "model.rnn.cell", "model.rnn.units",
              "model.rnn.layers", "model.rnn.layer_norm", "data.granularity", "data.direction")


@dataclass
class StartingPoint:
    path: Path
    state: dict  # the old run's: vocabulary, granularity, direction
    weights: list[np.ndarray]  # the old model's, in the order of `keras.Model.get_weights`


def _value(config, key: str):
    return functools.reduce(getattr, key.split("."), config)


def read_start(task, config) -> StartingPoint:
    """The run named by ``model.init_from``; one clear error when it is not a finished language-model
    run or its shape differs from ``config``'s."""
    from common import lifecycle

    run = RunFolder(config.model.init_from)
    if not (run.config_path.exists() and run.state_path.exists() and run.model_path.exists()):
        raise DataError(f"config key 'model.init_from': {run.path} is not a finished language-model run (it "
                        "needs config.yaml, state.json and model.keras); give the folder of one")
    _, saved, state, model = lifecycle.load_run(task, run.path)
    problems = [f"{key}: {_value(saved, key)} (is {_value(config, key)})" for key in SHAPE_KEYS
                if _value(saved, key) != _value(config, key)]
    if problems:
        raise ConfigError(f"config key 'model.init_from': the language model in {run.path} has another shape; "
                          f"set {', '.join(problems)}")
    return StartingPoint(run.path, state, model.get_weights())
