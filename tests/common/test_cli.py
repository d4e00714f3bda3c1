"""The command line's `config`, `export` and `serve` commands, run in-process through `common.cli.main`."""
import json
import re
import shutil

import numpy as np
import pytest
import yaml

from common import lifecycle, registry
from common.cli import main
from common.export import load_serving
from common.io import read_json
from tasks.forecasting import TASK
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv


@pytest.mark.parametrize("name", sorted(registry.TASK_MODULES))
def test_config_prints_the_resolved_config_which_loads_back_equal(name, capsys, tmp_path):
    task = registry.get_task(name)
    sets = ["train.epochs=7", "train.learning_rate=0.02"]
    main(task, ["config", *[arg for item in sets for arg in ("--set", item)]])
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    expected = lifecycle.load_config(task, task.demo_config_path, sets)
    assert lifecycle.load_config(task, tmp_path / "printed.yaml") == expected
    doc = yaml.safe_load(printed)
    assert doc["train"]["epochs"] == 7 and doc["train"]["learning_rate"] == 0.02  # the overrides
    assert doc["train"]["clipnorm"] == 1.0 and doc["tuner"]["keep_best_trials"] == 3  # defaults, not in YAML
    assert not (tmp_path / "demo_data").exists()  # no work done: not even the demo data


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A one-epoch forecasting run on 100 hourly rows (a 4-unit GRU)."""
    folder = tmp_path_factory.mktemp("cli")
    config = config_for(write_csv(folder / "s.csv", hourly(100)), **{"model.rnn.units": 4})
    run, _ = lifecycle.train(TASK, config, folder / "run", log=lambda *_: None)
    return run


def serve_example(run):
    _, config, state, _ = lifecycle.load_run(TASK, run.path)
    example = TASK.serving_example(config, TASK.prepare(config, state))
    return {k: v.numpy() for k, v in load_serving(run.export_dir)(**example).items()}


def test_export_rewrites_a_saved_model_that_serves_the_same_outputs(tiny_run, capsys):
    before = serve_example(tiny_run)
    card = (tiny_run.export_dir / "model_card.md").read_text()
    shutil.rmtree(tiny_run.export_dir)
    main(TASK, ["export", "--run-dir", str(tiny_run.path)])
    assert str(tiny_run.path) in capsys.readouterr().out
    after = serve_example(tiny_run)
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value)
    assert (tiny_run.export_dir / "model_card.md").read_text() == card
    assert read_json(tiny_run.metrics_path)["test"]  # the run is otherwise untouched


def test_set_help_says_a_key_set_twice_takes_its_last_value(capsys):
    with pytest.raises(SystemExit):
        main(TASK, ["train", "--help"])
    assert "a key set twice takes its last value" in " ".join(capsys.readouterr().out.split())


def test_a_set_value_with_a_key_twice_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(TASK, ["config", "--set", "model.rnn={units: 1, units: 2}"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err == ("error: --set 'model.rnn': key 'units' appears twice (first at column 2); keep one of "
                   "them\n")


def test_serve_builds_the_runs_page_and_hands_every_limit_to_the_server(tiny_run, monkeypatch):
    """The flags reach `make_server` (stood in for here: nothing binds), with the page of this run."""
    from common.errors import UserError
    from common.page import Page

    handed = {}

    def make_server(export_dir, name, host, port, max_batch, **keywords):
        handed.update(export_dir=export_dir, name=name, **keywords)
        raise UserError("stopped before binding")

    monkeypatch.setattr("common.serving.make_server", make_server)
    with pytest.raises(SystemExit):
        main(TASK, ["serve", "--run-dir", str(tiny_run.path), "--model-name", "load", "--max-body", "64",
                    "--max-tokens", "7", "--max-text", "9"])
    page = handed.pop("page")
    assert handed == {"export_dir": tiny_run.export_dir, "name": "load", "max_connections": 64,
                      "timeout": 5.0, "max_body": 64, "max_tokens": 7, "max_text": 9}
    assert isinstance(page, Page)
    (block,) = re.findall(r'<script type="application/json" id="settings">(.*?)</script>', page.html.decode())
    settings = json.loads(block)
    assert (settings["task"], settings["model"], settings["targets"], settings["lookback"]) == (
        "forecasting", "load", ["a"], 8)


@pytest.mark.parametrize("flag, value, message", [
    ("--max-tokens", "0", "serve --max-tokens must be a whole number from 1 to 100000, got 0"),
    ("--max-text", "-3", "serve --max-text must be a whole number from 1 to 10000000, got -3"),
    ("--max-body", "0", "serve --max-body must be a whole number from 1 to 1073741824, got 0"),
    ("--max-body", "10737418240", "serve --max-body must be a whole number from 1 to 1073741824, got "
                                  "10737418240"),
    ("--max-batch", "1000000", "serve --max-batch must be a whole number from 1 to 100000, got 1000000"),
])
def test_a_bad_serve_limit_is_one_line_before_the_run_folder_is_read(flag, value, message, tmp_path, capsys):
    """The run folder does not exist: a limit checked after reading it would fail on the folder instead."""
    with pytest.raises(SystemExit) as exc:
        main(TASK, ["serve", "--run-dir", str(tmp_path / "missing"), flag, value])
    assert exc.value.code == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_serve_refuses_the_run_folder_of_another_task_naming_its_task(tiny_run, monkeypatch, capsys):
    from tasks.sentiment import TASK as SENTIMENT

    monkeypatch.setattr("common.serving.make_server", lambda *a, **k: pytest.fail("the export was loaded"))
    with pytest.raises(SystemExit) as exc:
        main(SENTIMENT, ["serve", "--run-dir", str(tiny_run.path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (f"error: {tiny_run.config_path}: this config is for task "
                                       "'forecasting', not 'sentiment'; use `python -m tasks.forecasting`\n")


def test_serve_help_documents_the_request_limits(capsys):
    with pytest.raises(SystemExit):
        main(TASK, ["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("--max-body BYTES Largest request body; a longer one gets 413 unread (default 33554432, 32 MiB; "
            "at most 1073741824, 1 GiB)." in text)
    assert ("--max-tokens N Most tokens one prompt may ask to generate" in text
            and "(default 512, at most 100000)" in text)
    assert ("--max-text CHARS Longest string input, in characters; a longer one gets 400 (default 100000, at "
            "most 10000000)." in text)
    assert "(default 1024, at most 100000)" in text and "(default 64, at most 10000)" in text
    assert "a page to try it in a browser at /" in text
