"""The task contract, checked on every registered task: one named check per guarantee.

Like scikit-learn's ``check_estimator``, these checks are the definition of "a
task": a new task that registers itself is run through all of them. Each task
trains once (its demo config, one epoch, on its own demo data); the checks then
look at that run from every side a user or a deployment would.
"""
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from common import config as cfg
from common import lifecycle, registry
from common.errors import ConfigError, UserError
from common.export import build_archive
from common.io import read_json
from common.run import RunFolder
from common.task import Demo
from tests.conftest import REPO
from tests.harness import assert_outputs_equal, serve_calls_in_fresh_process

TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none"}
TASKS = sorted(registry.TASK_MODULES)


def reproducible(metrics: dict) -> dict:
    """The metrics a seed fixes: everything but wall-clock speed (e.g. sentences_per_second)."""
    return {k: v for k, v in metrics.items() if not k.endswith(("_per_second", "_seconds"))}


def tiny_config(task, folder, seed=0):
    overrides = task.demo.make_data(folder, seed=seed)
    return cfg.with_values(lifecycle.load_config(task, task.demo_config_path), {**overrides, **TINY})


@pytest.fixture(scope="module", params=TASKS)
def trained(request, tmp_path_factory):
    """Each task trained once, exactly as a newcomer types it in an empty folder (one epoch)."""
    task = registry.get_task(request.param)
    folder = tmp_path_factory.mktemp(task.name)
    sets = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
    result = subprocess.run([sys.executable, "-m", f"tasks.{task.name}", "train", *sets], cwd=folder,
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Wrote the demo data" in result.stdout  # the demo config's data is made on first use
    run = RunFolder(folder / "runs" / task.name / "demo")
    config = lifecycle.load_config(task, run.config_path, saved_run=True)
    return task, config, run, read_json(run.metrics_path), folder


def expected_serving(task, run):
    """serving_default's outputs on the task's example, computed in this process from the reloaded run."""
    _, config, state, model = lifecycle.load_run(task, run.path)
    prepared = task.prepare(config, state)
    example = task.serving_example(config, prepared)
    _, signatures = build_archive(task, model, config, prepared)
    return example, {k: np.asarray(v) for k, v in signatures["serving_default"].fn(**example).items()}


# ---- the contract itself ------------------------------------------------------------------------
@pytest.mark.parametrize("name", TASKS)
def test_task_declares_the_whole_contract(name):
    task = registry.get_task(name)
    assert task.name == name and task.description
    assert isinstance(task.demo, Demo)
    assert task.demo_config_path.is_file()
    assert isinstance(task.predict_input_help, str) and task.predict_input_help
    assert task.config_class.default_monitor == task.default_monitor


@pytest.mark.parametrize("name", TASKS)
def test_cli_help_explains_every_command(name):
    result = subprocess.run([sys.executable, "-m", f"tasks.{name}", "--help"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "tune", "export", "predict", "serve", "config"):
        assert command in result.stdout


# ---- training and the run folder --------------------------------------------------------------------
def test_train_writes_the_whole_run_folder(trained):
    _, _, run, _, _ = trained
    for path in (run.config_path, run.state_path, run.metrics_path, run.history_path, run.model_path,
                 run.report_path, run.export_dir / "saved_model.pb", run.plots_dir / "learning_curves.png"):
        assert path.exists(), path
    metrics = read_json(run.metrics_path)
    assert metrics["test"] and metrics["training"]["best_epoch"] == 1 and "baselines" in metrics
    assert all(np.isfinite(v) for v in metrics["test"].values() if isinstance(v, float))


def test_the_run_config_yaml_is_the_resolved_config_and_reruns_as_is(trained, tmp_path):
    task, config, run, _, _ = trained
    cfg.save_yaml(cfg.to_dict(config), tmp_path / "again.yaml")
    assert (tmp_path / "again.yaml").read_text() == run.config_path.read_text()
    assert lifecycle.load_config(task, tmp_path / "again.yaml") == config


def test_reloaded_model_keras_reproduces_the_test_metrics(trained):
    task, _, run, doc, _ = trained
    _, again = lifecycle.evaluate(task, run.path, "test")  # model.keras + state.json, in this process
    assert reproducible(again["test"]) == reproducible(doc["test"])  # model.keras and state.json reloaded


def test_state_is_reused_not_refitted_on_other_data(trained):
    task, _, run, _, folder = trained
    other = tiny_config(task, folder / "other_data", seed=1)  # different texts / values, same layout
    state = read_json(run.state_path)
    assert task.prepare(other, state).state == state


@pytest.mark.slow  # minutes of training; `-m slow` runs it (the default run stays near 10 minutes)
def test_same_seed_gives_the_same_metrics(trained, tmp_path):
    task, config, _, doc, _ = trained
    _, again = lifecycle.train(task, config, tmp_path / "again", log=lambda *_: None)
    assert reproducible(again["test"]) == reproducible(doc["test"])


def test_bad_data_raises_the_projects_error_in_one_line(trained, tmp_path):
    task, config, _, _, _ = trained
    empty = tmp_path / ("empty" + os.path.splitext(config.data.path or config.data.train)[1])
    empty.write_text("")
    key = "data.path" if config.data.path else "data.train"
    broken = cfg.with_values(config, {key: str(empty)})
    with pytest.raises(UserError) as error:
        task.prepare(broken, None)
    assert "\n" not in str(error.value) and str(empty) in str(error.value)


def test_evaluate_adds_the_val_split_to_metrics(trained):
    task, _, run, _, _ = trained
    lifecycle.evaluate(task, run.path, "val")
    doc = read_json(run.metrics_path)
    assert "val" in doc and "test" in doc


def test_a_misspelled_config_key_is_named(trained):
    task = trained[0]
    with pytest.raises(ConfigError, match=r"unknown config key 'train.epoch'; did you mean 'epochs'\?"):
        lifecycle.load_config(task, task.demo_config_path, ["train.epoch=3"])


def test_cli_reports_bad_config_in_one_line_without_traceback(trained):
    task = trained[0]
    result = subprocess.run(
        [sys.executable, "-m", f"tasks.{task.name}", "train", "--config", str(task.demo_config_path),
         "--set", "train.epochs=0"], cwd=trained[4], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 2
    assert result.stderr.strip() == "error: config key 'train.epochs': must be >= 1, got 0"


# ---- export and predict -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(trained, tmp_path_factory):
    """The export called in one fresh process (only TensorFlow imported): serving_default on the task's
    example, and every call of `Task.reference_outputs`; with what each call must return."""
    task, _, run, _, _ = trained
    example, in_process = expected_serving(task, run)
    _, config, state, model = lifecycle.load_run(task, run.path)
    references = task.reference_outputs(model, config, task.prepare(config, state))
    calls = [("serving_default", example)] + [(name, inputs) for name, (inputs, _) in references.items()]
    outputs = serve_calls_in_fresh_process(run.export_dir, calls, tmp_path_factory.mktemp("served"))
    return (in_process, outputs[0]), [(name, expected, out) for (name, (_, expected)), out
                                      in zip(references.items(), outputs[1:])]


def test_export_serves_in_a_fresh_process_with_only_tensorflow(served):
    (in_process, fresh), _ = served
    assert_outputs_equal(fresh, in_process)


def test_export_serves_what_the_trained_model_computes_without_the_serving_graph(served):
    """Each checked signature against the Keras model plus the task's own Python pre- and postprocessing
    (`Task.reference_outputs`): a serving graph that forgets the unscaling or names tags from a shuffled
    table passes the in-process comparison above, never this one."""
    _, references = served
    assert references
    for name, expected, fresh in references:
        assert expected and set(expected) <= set(fresh), (name, sorted(fresh))
        assert_outputs_equal({k: fresh[k] for k in expected}, expected)


def test_predict_reads_a_user_file_through_the_export(trained):
    task, config, run, _, folder = trained
    source = task.demo.predict_input(config, folder)
    out = folder / "predictions.out"
    summary = lifecycle.predict(task, run.path, source, out)
    assert summary and out.exists() and out.stat().st_size > 0


def test_export_has_a_model_card_and_passes_saved_model_cli(trained):
    _, _, run, _, _ = trained
    card = (run.export_dir / "model_card.md").read_text()
    assert "## Signatures" in card and "serving_default" in card and "## Limitations" in card
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--all", "--dir", str(run.export_dir)], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "signature_def['serving_default']" in result.stdout


# ---- the REST server --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(trained):
    from common.serving import make_server

    task, _, run, _, _ = trained
    httpd = make_server(run.export_dir, task.name, port=0, max_batch=8)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1/models/{task.name}"
    httpd.shutdown()
    httpd.server_close()


def post(url, payload, raw=None):
    data = raw if raw is not None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _instances(example):
    names = list(example)
    rows = [{k: np.asarray(example[k])[i].tolist() for k in names} for i in range(len(example[names[0]]))]
    if len(names) == 1:
        return [r[names[0]] for r in rows]
    return rows


def test_rest_predict_speaks_tensorflow_serving_format(trained, server):
    task, _, run, _, _ = trained
    example, expected = expected_serving(task, run)
    status, body = post(f"{server}:predict", {"instances": _instances(example)})
    assert status == 200, body
    predictions = body["predictions"]
    assert len(predictions) == len(next(iter(example.values())))
    first = predictions[0] if len(expected) > 1 else {next(iter(expected)): predictions[0]}
    assert_outputs_equal({k: np.asarray(v) for k, v in first.items()},
                         {k: np.asarray(v)[0] for k, v in expected.items()})


@pytest.mark.parametrize("payload, message", [
    ({"instancez": [1]}, "exactly one of 'instances'"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [[["not a number"]]]}, "input"),
    ({"instances": [1] * 9}, "batch of 9 is over this server's limit of 8"),
])
def test_malformed_requests_get_400_and_the_server_survives(server, payload, message):
    status, body = post(f"{server}:predict", payload)
    assert status == 400 and message in body["error"]
    assert post(f"{server}:predict", None, raw=b"{not json")[0] == 400
    with urllib.request.urlopen(server, timeout=30) as response:  # still up
        assert json.loads(response.read())["model_version_status"][0]["state"] == "AVAILABLE"


# ---- tuning -----------------------------------------------------------------------------------------
@pytest.mark.slow  # minutes of training; `-m slow` runs it (the default run stays near 10 minutes)
def test_tune_with_a_tiny_budget_writes_a_config_train_accepts(trained, tmp_path):
    from common.tuning import tune

    task, config, _, _, _ = trained
    small = cfg.with_values(config, {"tuner.max_trials": 1, "tuner.epochs": 1, "tuner.algorithm": "random"})
    run, best = tune(task, small, tmp_path / "tune")
    best_config = lifecycle.load_config(task, run.path / "best.yaml")
    assert best_config.name == f"{config.name}-best"
    assert all(cfg.get_path(best_config, key) == value for key, value in best.items()
               if key in small.tuner.search_space)
    assert (run.path / "trials.csv").read_text().count("\n") == 2  # header and the one trial
