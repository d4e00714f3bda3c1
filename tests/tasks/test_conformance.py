"""Every registered task goes through the same lifecycle and gets the same guarantees.

tiny train -> run folder -> reload -> export -> SavedModel in a fresh process with
only TensorFlow imported -> predict -> evaluate again -> bad config.
"""
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from common import config as cfg
from common import lifecycle, registry
from common.errors import ConfigError
from common.export import build_archive
from common.io import read_json
from tests.conftest import REPO

TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none"}


@pytest.fixture(scope="module", params=sorted(registry.TASK_MODULES))
def trained(request, tmp_path_factory):
    task = registry.get_task(request.param)
    folder = tmp_path_factory.mktemp(task.name)
    overrides = task.demo.make_data(folder / "data", seed=0)
    config = cfg.with_values(lifecycle.load_config(task, task.demo_config_path), {**overrides, **TINY})
    run, doc = lifecycle.train(task, config, folder / "run", log=lambda *_: None)
    return task, config, run, doc, folder


def test_train_writes_the_whole_run_folder(trained):
    _, _, run, doc, _ = trained
    for path in (run.config_path, run.state_path, run.metrics_path, run.history_path, run.model_path,
                 run.report_path, run.export_dir / "saved_model.pb", run.plots_dir / "learning_curves.png"):
        assert path.exists(), path
    metrics = read_json(run.metrics_path)
    assert metrics["test"] and metrics["training"]["best_epoch"] == 1
    assert all(np.isfinite(v) for v in metrics["test"].values() if isinstance(v, float))


def test_saved_config_reloads_to_the_same_config(trained):
    task, config, run, _, _ = trained
    assert lifecycle.load_config(task, run.config_path) == config


def test_model_keras_reloads_with_identical_weights(trained):
    _, _, run, _, _ = trained
    _, _, _, model = lifecycle.load_run(trained[0], run.path)
    reloaded = keras.saving.load_model(str(run.model_path), compile=False)
    for a, b in zip(model.get_weights(), reloaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_export_serves_in_a_fresh_process_with_only_tensorflow(trained, tmp_path):
    task, _, run, _, _ = trained
    run_, config, state, model = lifecycle.load_run(task, run.path)
    prepared = task.prepare(config, state)
    example = task.serving_example(config, prepared)
    _, signatures = build_archive(task, model, config, prepared)
    expected = {k: np.asarray(v) for k, v in signatures["serving_default"].fn(**example).items()}
    np.savez(tmp_path / "inputs.npz", **example)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        fn = tf.saved_model.load({str(run.export_dir)!r}).signatures["serving_default"]
        inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))
        out = {{k: v.numpy() for k, v in fn(**{{k: tf.constant(v) for k, v in inputs.items()}}).items()}}
        out = {{k: v.astype(str) if v.dtype == object else v for k, v in out.items()}}
        assert not [m for m in sys.modules if m.split(".")[0] in ("common", "tasks")]
        np.savez({str(tmp_path / 'outputs.npz')!r}, **out)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    served = dict(np.load(tmp_path / "outputs.npz"))
    assert set(served) == set(expected)
    for key, value in expected.items():
        if value.dtype.kind in "SUO":
            assert served[key].astype(str).tolist() == value.astype(str).tolist(), key
        else:
            np.testing.assert_allclose(served[key], value, rtol=1e-4, atol=1e-4, err_msg=key)


def test_predict_reads_a_user_file_through_the_export(trained):
    task, config, run, _, folder = trained
    source = task.demo.predict_input(config, folder)
    out = folder / "predictions.out"
    summary = lifecycle.predict(task, run.path, source, out)
    assert summary and out.exists() and out.stat().st_size > 0


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


def test_metrics_json_is_valid_json_with_baselines_key(trained):
    _, _, run, _, _ = trained
    doc = json.loads(run.metrics_path.read_text())
    assert "baselines" in doc


# ---- deployment ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(trained):
    import threading

    from common.serving import make_server

    task, _, run, _, _ = trained
    httpd = make_server(run.export_dir, task.name, port=0, max_batch=8)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/v1/models/{task.name}"
    httpd.shutdown()
    httpd.server_close()


def post(url, payload, raw=None):
    import urllib.error
    import urllib.request

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
    _, config, state, model = lifecycle.load_run(task, run.path)
    prepared = task.prepare(config, state)
    example = task.serving_example(config, prepared)
    status, body = post(f"{server}:predict", {"instances": _instances(example)})
    assert status == 200, body
    _, signatures = build_archive(task, model, config, prepared)
    expected = {k: np.asarray(v) for k, v in signatures["serving_default"].fn(**example).items()}
    predictions = body["predictions"]
    assert len(predictions) == len(next(iter(example.values())))
    first = predictions[0] if len(expected) > 1 else {next(iter(expected)): predictions[0]}
    for key, value in expected.items():
        if value.dtype.kind in "SUO":
            assert first[key] == np.vectorize(lambda b: b.decode() if isinstance(b, bytes) else b)(value[0]).tolist()
        else:
            np.testing.assert_allclose(first[key], value[0], rtol=1e-4, atol=1e-4)


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
    import urllib.request

    with urllib.request.urlopen(server, timeout=30) as response:  # still up
        assert json.loads(response.read())["model_version_status"][0]["state"] == "AVAILABLE"


def test_export_has_a_model_card_and_passes_saved_model_cli(trained):
    _, _, run, _, _ = trained
    card = (run.export_dir / "model_card.md").read_text()
    assert "## Signatures" in card and "serving_default" in card and "## Limitations" in card
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--all", "--dir", str(run.export_dir)], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "signature_def['serving_default']" in result.stdout


def test_tune_with_a_tiny_budget_writes_a_config_train_accepts(trained, tmp_path):
    from common.tuning import tune

    task, config, _, _, _ = trained
    small = cfg.with_values(config, {"tuner.max_trials": 2, "tuner.epochs": 1, "tuner.algorithm": "random"})
    run, best = tune(task, small, tmp_path / "tune")
    best_config = lifecycle.load_config(task, run.path / "best.yaml")
    assert best_config.name == f"{config.name}-best"
    assert all(cfg.get_path(best_config, key) == value for key, value in best.items() if key in small.tuner.search_space)
    assert (run.path / "trials.csv").read_text().count("\n") == 3
