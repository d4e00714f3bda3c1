"""Reading finished `tasks.language_model` runs: what an encoder takes from them (vocabulary, weights,
metrics), with one `DataError` naming the config key when a folder is not the run it should be."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from common.errors import DataError
from common.io import read_json
from common.registry import get_task
from common.run import RunFolder


@dataclass
class LanguageModelRun:
    """What an encoder takes from a finished language-model run."""

    path: Path
    direction: str
    vocabulary: list[str]
    embeddings: np.ndarray  # [LM vocabulary, embedding_dim]
    cells: list[list[np.ndarray]]  # per recurrent layer, the cell's weights (kernel first)
    norms: list[list[np.ndarray]]  # per gap between layers, the layer norm's weights
    cell: str
    units: int
    metrics: dict

    def describe(self) -> str:
        shown = ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items()
                          if k in ("perplexity", "bits_per_char") and isinstance(v, (int, float)))
        return f"{self.path} ({self.direction} LM{', test ' + shown if shown else ''})"


def read_language_model(folder, key: str, granularity: str = "word",
                        recipe: str = "model.pretraining.enabled: true") -> LanguageModelRun:
    """A finished language-model run of ``granularity``; `DataError` naming ``key`` (and the ``recipe``
    setting that would train one) when it is not one."""
    run = RunFolder(folder)
    if not (run.config_path.exists() and run.state_path.exists() and run.model_path.exists()):
        raise DataError(f"config key '{key}': {run.path} is not a finished language-model run (it needs "
                        "config.yaml, state.json and model.keras); train one with python -m "
                        f"tasks.language_model train, or set {recipe}")
    state = read_json(run.state_path)
    if "vocabulary" not in state or state.get("granularity", "word") != granularity:
        raise DataError(f"config key '{key}': {run.path} is not a {granularity}-level language-model run; "
                        f"train one with data.granularity: {granularity}")
    get_task("language_model")  # the language-model task registers the layers model.keras needs
    model = keras.saving.load_model(str(run.model_path), compile=False)
    recurrent = model.get_layer("recurrent")
    metrics = read_json(run.metrics_path).get("test", {}) if run.metrics_path.exists() else {}
    return LanguageModelRun(path=run.path, direction=state.get("direction", "forward"),
                            vocabulary=list(state["vocabulary"]),
                            embeddings=keras.ops.convert_to_numpy(model.get_layer("embedding").embeddings),
                            cells=[rnn.get_weights() for rnn in recurrent.rnns],
                            norms=[norm.get_weights() for norm in recurrent.norms],
                            cell=recurrent.cell, units=recurrent.units, metrics=metrics)


def language_model_runs(folder, backward_path=None, key: str = "model.pretrained_encoder", granularity: str = "word",
                        recipe: str = "model.pretraining.enabled: true",
                        ) -> tuple[LanguageModelRun, LanguageModelRun | None]:
    """The forward run and the backward one (None when not given): ``folder`` is a forward run or holds
    ``forward/`` and ``backward/`` runs. ``key`` names the config key in errors (``<key>_backward`` the
    backward run's), ``recipe`` the setting that trains them instead."""
    folder = Path(folder)
    if (folder / "forward").is_dir() and not (folder / "config.yaml").exists():
        backward_path = backward_path or ((folder / "backward") if (folder / "backward").is_dir() else None)
        folder = folder / "forward"
    forward = read_language_model(folder, key, granularity, recipe)
    if forward.direction != "forward":
        raise DataError(f"config key '{key}': {forward.path} is a {forward.direction} language model; "
                        f"name it in {key}_backward (or as <folder>/backward) and give a forward one")
    backward = None
    if backward_path:
        backward = read_language_model(backward_path, f"{key}_backward", granularity, recipe)
        if backward.direction != "backward":
            raise DataError(f"config key '{key}_backward': {backward.path} is a forward "
                            "language model; train one with data.direction: backward")
    return forward, backward

