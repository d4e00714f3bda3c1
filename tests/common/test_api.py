"""The Python API: the CLI's lifecycle from a notebook, with in-memory data."""
import shutil

import numpy as np
import pandas as pd
import pytest

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
