"""A run that starts from another (model.init_from): its vocabulary and weights, and the checks on the run."""
import json

import numpy as np
import pytest

from common import config as cfg
from common.errors import ConfigError, DataError
from tasks.language_model import TASK
from tests.tasks.language_model.helpers import WORDS, config_for, write


def saved_run(folder, config):
    """A finished-looking run of ``config`` (untrained weights: only their reuse is under test)."""
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    folder.mkdir(parents=True)
    model.save(str(folder / "model.keras"))
    cfg.save_yaml(cfg.to_dict(config), folder / "config.yaml")
    (folder / "state.json").write_text(json.dumps(prepared.state))
    return model, prepared.state


@pytest.fixture
def general(tmp_path):
    """A run on the general text, and a config for in-domain text that shares only some of its words."""
    model, state = saved_run(tmp_path / "general", config_for(write(tmp_path, "general.txt", WORDS * 6)))
    in_domain = config_for(write(tmp_path, "domain.txt", "the bird sees a fish\nthe fish swims\n" * 6),
                           **{"model.init_from": str(tmp_path / "general")})
    return model, state, in_domain


def test_a_started_run_keeps_the_old_vocabulary(general):
    _, state, in_domain = general
    prepared = TASK.prepare(in_domain)
    assert prepared.state["vocabulary"] == state["vocabulary"]  # "dogs" kept, "fish" is <unk>
    assert "model.init_from" in prepared.info["started from"]


def test_a_started_model_begins_with_the_old_weights(general):
    model, _, in_domain = general
    started = TASK.build_model(in_domain, TASK.prepare(in_domain))
    for old, new in zip(model.get_weights(), started.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("key, value", [("model.rnn.units", 4), ("data.direction", "backward"),
                                        ("model.tie_embeddings", True)])
def test_a_run_of_another_shape_is_one_error_naming_the_key(general, key, value):
    _, _, in_domain = general
    with pytest.raises(ConfigError, match=f"model.init_from.*{key}"):
        TASK.prepare(cfg.with_values(in_domain, {key: value}))


def test_a_folder_that_is_no_finished_run_is_named(tmp_path):
    config = config_for(write(tmp_path, "c.txt", WORDS), **{"model.init_from": str(tmp_path)})
    with pytest.raises(DataError, match="model.init_from.*not a finished language-model run"):
        TASK.prepare(config)
