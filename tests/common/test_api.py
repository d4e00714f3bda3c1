"""The Python API: the CLI's lifecycle from a notebook, with in-memory data."""
import importlib
import shutil

import numpy as np
import pandas as pd
import pytest

from common import registry
from common.errors import UserError
from tasks import sentiment, translation


@pytest.fixture(scope="module")
def reviews():
    rng = np.random.default_rng(0)
    good, bad = ["wonderful", "superb", "moving"], ["dull", "awful", "tedious"]
    rows = [{"text": f"the film was {rng.choice(good if i % 2 else bad)}", "label": "pos" if i % 2 else "neg"}
            for i in range(200)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def run(reviews, tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    return sentiment.train(None, data=reviews, set={"train.epochs": 2, "train.verbose": "none",
                                                    "train.tensorboard": False}, run_dir=folder / "run")


def test_train_takes_a_dataframe_and_returns_a_run_with_metrics(run):
    assert run.metrics["test"]["accuracy"] > 0.5 and "baselines" in run.metrics
    assert (run.path / "data" / "path.csv").exists()  # the table, written where the config points


def test_predict_runs_raw_inputs_through_the_export(run):
    out = run.predict(["the film was superb", "the film was dull"])
    assert out["label"].tolist() == ["pos", "neg"] and out["probabilities"].shape == (2, 2)


def test_a_finished_run_loads_back_and_re_evaluates(run):
    again = sentiment.load(run.path)
    assert again.evaluate("test") == run.metrics["test"]
    assert again.config.name == run.config.name


def test_inputs_by_the_wrong_name_are_one_clear_error(run):
    with pytest.raises(UserError, match="serving_default takes text"):
        run.predict(sentence=["x"])


def test_the_same_run_folder_is_not_overwritten_by_accident(run, reviews):
    with pytest.raises(UserError, match="already holds a finished run"):
        sentiment.train(None, data=reviews, run_dir=run.path)


def test_a_task_takes_split_tables_in_its_own_file_format(tmp_path):
    pairs = [("ein haus", "a house"), ("ein hund", "a dog")]
    path = translation.TASK.write_data(pd.DataFrame(pairs, columns=["source", "target"]), tmp_path / "train")
    assert path.suffix == ".tsv" and path.read_text(encoding="utf-8") == "ein haus\ta house\nein hund\ta dog\n"


TEXTS = ["the film was superb", "the film was dull", "the film was moving"]


def test_export_rewrites_the_saved_model_that_predict_serves(run):
    before = run.predict(TEXTS)
    shutil.rmtree(run.path / "export")
    assert run.export() == run.path / "export" and (run.path / "export" / "saved_model.pb").exists()
    for again in (run.predict(TEXTS), sentiment.load(run.path).predict(TEXTS)):  # this Run and a fresh one
        assert again["label"].tolist() == before["label"].tolist()
        np.testing.assert_array_equal(again["probabilities"], before["probabilities"])


def test_predict_file_writes_the_exports_predictions_for_a_user_file(run, tmp_path):
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    summary = run.predict_file(tmp_path / "texts.txt", tmp_path / "out.csv")
    expected = run.predict(TEXTS)
    table = pd.read_csv(tmp_path / "out.csv")
    assert table["text"].tolist() == TEXTS and table["label"].tolist() == expected["label"].tolist()
    probabilities = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(probabilities, expected["probabilities"], atol=5e-5)  # written with 4 decimals
    labels = expected["label"].tolist()
    assert summary == {"texts": 3, "empty texts": 0, "predicted neg": labels.count("neg"),
                       "predicted pos": labels.count("pos")}


# ---- bad arguments (issue #34): one UserError line each, nothing written --------------------------------
@pytest.mark.parametrize("name", sorted(registry.TASK_MODULES))
def test_every_task_package_exports_train_and_load_bound_to_its_task(name):
    module = importlib.import_module(registry.TASK_MODULES[name])
    assert module.train.__self__.task is module.TASK and module.load.__self__.task is module.TASK
    assert {"TASK", "train", "load"} <= set(module.__all__)


@pytest.mark.parametrize("kwargs, message", [
    ({"config": [1, 2]}, "config must be a YAML path, a mapping or None, got list"),
    ({"set": "train.epochs=3"}, "set must be a mapping of dotted keys to values"),
    ({"set": {1: 2}}, "set: key 1 is not a dotted config key such as 'train.epochs'"),
    ({"set": {"train..epochs": 2}}, "set: key 'train..epochs' is not a dotted config key"),
    ({"set": ["model={units: 1, units: 2}"]}, "--set 'model': key 'units' appears twice"),
    ({"set": {"model.rnn.units": 10**9}}, "config key 'model.rnn.units': must be <= 8192, got 1000000000"),
    ({"set": {"train.epochs": np.int64(0)}}, "'train.epochs': must be >= 1, got 0"),  # numpy: a number
    ({"run_dir": 5}, "run_dir must be a folder path, got int"),
    ({"data": 5}, "data['path']: expected a file path, a pandas DataFrame or a list of records, got int"),
    ({"data": pd.DataFrame({"text": [], "label": []})}, "data['path'] is an empty table"),
    ({"data": [1, 2]}, "data['path'][0]: expected a record (a dict, or a list/tuple of columns), got 1"),
    ({"data": {"bogus": "x.csv"}}, "data: unknown split(s) ['bogus']"),
    ({"config": {"name": "../../x", "data": {"path": "x.csv"}}}, "'name': '../../x' is not a plain name"),
])
def test_a_bad_argument_is_one_user_error_and_writes_nothing(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.chdir(tmp_path)
    kwargs = {"run_dir": "run", **kwargs}
    with pytest.raises(UserError) as exc:
        sentiment.train(kwargs.pop("config", None), **kwargs)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_a_run_dir_that_is_a_file_is_refused_and_left_alone(tmp_path, reviews):
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(UserError, match="is a file; give a folder"):
        sentiment.train(None, data=reviews, run_dir=tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_bad_in_memory_data_leaves_no_run_folder_behind(tmp_path, reviews):
    with pytest.raises(UserError, match=r"path.csv:1: .*label"):
        sentiment.train(None, data=reviews.rename(columns={"label": "y"}), run_dir=tmp_path / "runs" / "r")
    assert list(tmp_path.iterdir()) == []


def test_rows_a_task_cannot_write_are_one_error_and_leave_nothing(tmp_path):
    with pytest.raises(UserError, match=r"data\['path'\] cannot be written as translation data \(ValueError"):
        translation.train(None, data=[("only a source",)], run_dir=tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_the_callers_config_mapping_is_not_changed(tmp_path):
    config = {"data": {"path": "x.csv"}, "train": {"epochs": 1}}
    with pytest.raises(UserError, match="'train.batch_size': must be >= 1"):
        sentiment.train(config, set={"train.epochs": 5, "train.batch_size": 0}, run_dir=tmp_path / "run")
    assert config == {"data": {"path": "x.csv"}, "train": {"epochs": 1}}


def test_load_refuses_a_file_and_a_non_path(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        sentiment.load(tmp_path / "afile")
    with pytest.raises(UserError, match="run_dir must be a folder path, got NoneType"):
        sentiment.load(None)


@pytest.mark.parametrize("inputs, message", [
    ("the film was superb", "'text': expected a batch (string of shape [batch]), got one value"),
    ([1, 2], "predict input 'text': expected string of shape [batch]: 1 is not a string"),
    ([["a", "b"]], "predict input 'text': expected string of shape [batch], got shape [1, 2]"),
    ([], "predict input 'text' is an empty batch"),
])
def test_predict_inputs_of_the_wrong_type_or_shape_are_one_user_error(run, inputs, message):
    with pytest.raises(UserError) as exc:
        run.predict(inputs)
    assert message in str(exc.value)


def test_evaluate_takes_only_the_test_or_val_split(run):
    with pytest.raises(UserError, match="evaluate: split must be 'test' or 'val', got 'train'"):
        run.evaluate("train")
