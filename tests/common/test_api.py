"""The Python API: the CLI's lifecycle from a notebook, with in-memory data."""
import importlib
import json
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
    ({"overwrite": "no"}, "overwrite must be True or False, got 'no'"),  # truthy: it would replace a run
    ({"data": 5}, "data['path']: expected a file path, a pandas DataFrame or a list of records, got int"),
    ({"data": pd.DataFrame({"text": [], "label": []})}, "data['path'] is an empty table"),
    ({"data": [1, 2]}, "data['path'][0]: expected a record (a dict, or a list/tuple of columns) or a line of "
                       "text, got 1"),
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


# ---- in-memory data in each task's own format (issue #34, second round) ---------------------------------
LINES = ["the cat sat on the mat", "the dog sat on the log", "a bird flew over the house",
         "the cat saw the dog"]
TEXT = "".join(f"{line}\n" for line in LINES)
TINY_LM = {"data.val_fraction": 0.2, "data.test_fraction": 0.2, "data.bptt": 5, "model.embedding_dim": 4,
           "model.rnn.units": 4, "model.generation.max_tokens": 3,
           "model.generation.sample_prompt": "the cat", "train.epochs": 1, "train.batch_size": 2,
           "train.verbose": "none", "train.tensorboard": False}


def test_a_language_model_trains_on_an_in_memory_list_of_lines(tmp_path):
    """Before: lines could not be passed, and records were written as JSON that the model learnt as text."""
    from tasks import language_model

    run = language_model.train(None, data=LINES * 10, set=TINY_LM, run_dir=tmp_path / "run")
    assert (run.path / "data" / "path.txt").read_text(encoding="utf-8") == TEXT * 10
    vocabulary = json.loads((run.path / "state.json").read_text())["vocabulary"]
    assert set(vocabulary[3:]) == set(" ".join(LINES).split())  # the text's words, no markup
    assert run.metrics["test"]["perplexity"] > 1


def test_a_language_model_takes_records_and_data_frames_with_a_text_column(tmp_path):
    from tasks.language_model import TASK as LM

    for table in ([{"text": line} for line in LINES], pd.DataFrame({"text": LINES, "id": range(4)})):
        path = LM.write_data(table, tmp_path / "lines")
        assert path.name == "lines.txt" and path.read_text(encoding="utf-8") == TEXT


@pytest.mark.parametrize("data, message", [
    (["a line", 5], "data['path'][1]: expected a record (a dict, or a list/tuple of columns) or a line of "
                    "text, got 5"),
    ([{"txt": "a line"}], "data['path'] cannot be written as language_model data (ValueError: row 0: "
                          "expected a line of text (a string, or a record with a 'text' string), got "
                          "{'txt': 'a line'})"),
    (pd.DataFrame({"line": LINES}), "(ValueError: a DataFrame of text needs a 'text' column; it has "
                                    "['line'])"),
])
def test_language_model_data_it_cannot_write_is_one_error_and_writes_nothing(tmp_path, data, message):
    from tasks import language_model

    with pytest.raises(UserError) as exc:
        language_model.train(None, data=data, run_dir=tmp_path / "run")
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def _sentences(n, offset=0):
    names = [(["John"], "PER"), (["Maria", "Lopez"], "PER"), (["Paris"], "LOC"), (["New", "Delhi"], "LOC")]
    out = []
    for i in range(offset, offset + n):
        name, kind = names[i % 4]
        tags = [f"B-{kind}"] + [f"I-{kind}"] * (len(name) - 1)
        out.append(([*name, "was", "seen", "."], [*tags, "O", "O", "O"]))
    return out


def test_ner_trains_on_in_memory_sentences_given_as_records_or_pairs(tmp_path):
    """Before: records were written as JSON Lines, which the demo config (format conll) cannot read."""
    from tasks import ner

    data = {"train": [{"tokens": tokens, "tags": tags} for tokens, tags in _sentences(24)],
            "val": _sentences(8, 1), "test": _sentences(8, 2)}
    run = ner.train(None, data=data, run_dir=tmp_path / "run", set={
        "model.embedding_dim": 4, "model.casing_dim": 2, "model.char_encoder": "none", "model.rnn.units": 4,
        "model.crf": False, "train.epochs": 1, "train.verbose": "none", "train.tensorboard": False})
    assert (run.path / "data" / "train.txt").read_text(encoding="utf-8").startswith(
        "John B-PER\nwas O\nseen O\n. O\n\nMaria B-PER\nLopez I-PER\n")
    tags = json.loads((run.path / "state.json").read_text())["tags"]
    assert {tag.partition("-")[2] for tag in tags} == {"", "PER", "LOC"} and "f1" in run.metrics["test"]


@pytest.mark.parametrize("data, message", [
    ([{"tokens": ["New York"], "tags": ["B-LOC"]}], "row 0: 'New York' is not a token or tag (a non-empty "
                                                    "string without whitespace)"),
    ([(["a", "b"], ["O"])], "row 0: expected {'tokens': [...], 'tags': [...]} or a (tokens, tags) pair of "
                            "equally long lists, got (['a', 'b'], ['O'])"),
    (["John was seen"], "row 0: expected {'tokens': [...], 'tags': [...]}"),
    (pd.DataFrame({"words": [["a"]]}), "a DataFrame of sentences needs 'tokens' and 'tags' columns; it has "
                                       "['words']"),
])
def test_ner_data_that_would_shift_the_conll_columns_is_one_error_and_writes_nothing(tmp_path, data, message):
    from tasks import ner

    with pytest.raises(UserError) as exc:
        ner.train(None, data={"train": data, "val": data, "test": data}, run_dir=tmp_path / "run")
    assert "data['train'] cannot be written as ner data (ValueError: " + message in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_translation_pairs_with_a_tab_or_line_break_inside_a_sentence_keep_their_columns(tmp_path):
    from common import config as cfg
    from tasks.translation.config import TranslationDataConfig
    from tasks.translation.data import python_tokens, read_pairs

    pairs = [("ein\thaus", "a\nhouse"), {"source": "ein\r\nhund", "target": "a dog"}]
    path = translation.TASK.write_data(pairs, tmp_path / "train")
    assert path.read_text(encoding="utf-8") == "ein haus\ta house\nein  hund\ta dog\n"
    read, _ = read_pairs(cfg.from_dict(TranslationDataConfig, {"path": str(path)}), str(path))
    assert python_tokens(read.sources, True) == python_tokens(["ein\thaus", "ein\r\nhund"], True)
    assert read.targets == ["a house", "a dog"]


@pytest.mark.parametrize("data, message", [
    (pd.DataFrame({"source": ["ein haus", "ein hund"], "target": ["a house", None]}),  # a missing cell
     "row 1: the target sentence is nan, not a string"),
    ([("ein haus", 3)], "row 0: the target sentence is 3, not a string"),
    (["ein haus\ta house"], "row 0: expected a (source, target) pair, got 'ein haus\\ta house'"),
    # a third column is refused, not dropped (it may be the real target)
    (pd.DataFrame({"source": ["ein haus"], "target": ["a house"], "reference": ["the house"]}),
     "expected exactly 2 columns (source, target), got 3: ['source', 'target', 'reference']; select the two, "
     "e.g. frame[['source', 'target']]"),
    ([("ein haus", "a house", "the house")],
     "row 0: expected exactly 2 columns (source, target), got 3: ('ein haus', 'a house', 'the house')"),
    ([("ein haus", "a house"), ["ein hund"]], "row 1: expected exactly 2 columns (source, target), got 1: "
                                               "['ein hund']"),
    ([{"source": "ein haus", "target": "a house", "id": 7}],
     "row 0: expected a record with the keys source and target only, got the keys "
     "['id', 'source', 'target']"),
])
def test_translation_rows_that_are_not_pairs_of_sentences_are_one_error_and_write_nothing(tmp_path, data,
                                                                                          message):
    with pytest.raises(UserError) as exc:
        translation.train(None, data=data, run_dir=tmp_path / "run")
    assert f"data['path'] cannot be written as translation data (ValueError: {message})" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


# ---- an unfinished run keeps the tables it started with --------------------------------------------------
class Crash(Exception):
    pass


QUICK_FORECAST = {"train.epochs": 3, "train.early_stopping_patience": 0, "train.verbose": "none",
                  "train.tensorboard": False}


@pytest.fixture
def interrupted(tmp_path, monkeypatch):
    """A forecasting run from a DataFrame, killed at the end of its second epoch (after the first backup)."""
    import keras

    from common import lifecycle, training
    from tasks import forecasting

    class CrashInEpoch2(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == 2:
                raise Crash()

    frame = pd.read_csv(forecasting.TASK.demo.make_data(tmp_path / "demo", seed=0)["data.path"])
    monkeypatch.setattr(lifecycle, "fit", lambda *a, **k: training.fit(*a, callbacks=[CrashInEpoch2()], **k))
    with pytest.raises(Crash):
        forecasting.train(None, data=frame, set=QUICK_FORECAST, run_dir=tmp_path / "run")
    monkeypatch.setattr(lifecycle, "fit", training.fit)
    return tmp_path / "run", frame


def contents(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_other_data_for_an_unfinished_run_is_refused_before_its_tables_are_replaced(interrupted):
    from tasks import forecasting

    run, frame = interrupted
    before = contents(run)
    with pytest.raises(UserError) as exc:
        forecasting.train(None, data=frame.assign(load=frame["load"] + 1), set=QUICK_FORECAST, run_dir=run)
    assert str(exc.value) == (f"data['path'] is not the table the unfinished run in {run} started with "
                              f"({run / 'data' / 'path.csv'} differs); pass the data it started with to "
                              "continue it, or overwrite=True to start afresh")
    assert contents(run) == before
    continued = forecasting.train(None, data=frame, set=QUICK_FORECAST, run_dir=run)  # the same table
    assert continued.metrics["test"]


def test_overwrite_starts_an_unfinished_run_afresh_on_other_data(interrupted):
    from tasks import forecasting

    run, frame = interrupted
    other = frame.assign(load=frame["load"] + 1)
    again = forecasting.train(None, data=other, set=QUICK_FORECAST, run_dir=run, overwrite=True)
    assert pd.read_csv(run / "data" / "path.csv")["load"].tolist() == other["load"].tolist()
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3 and again.metrics["test"]


@pytest.mark.parametrize("value, shown", [(np.nan, "nan"), (-np.inf, "-inf"), (1e39, r"1e\+39")])
def test_a_non_finite_number_for_a_float_input_is_one_user_error_naming_where(value, shown):
    """The server answers 400 for these; the graph would return NaN forecasts for them without a word."""
    import tensorflow as tf

    from common.api import _input_tensor

    history = np.zeros((2, 3, 1))
    history[1, 2, 0] = value
    spec = tf.TensorSpec([None, 3, 1], tf.float32)
    message = rf"'history': the value at \[1, 2, 0\] is {shown}, not a finite float32"
    with pytest.raises(UserError, match=message):
        _input_tensor("history", history, spec)
    assert _input_tensor("history", np.ones((2, 3, 1)), spec).numpy().sum() == 6.0


@pytest.mark.parametrize("value, shown", [
    (np.array([[0.0], [1.0]]) > 0.5, r"\[0, 0\] is False"),  # a mask passed for the numbers
    ([[1.0], [False]], r"\[1, 0\] is False"),  # numpy would read it as [[1.0], [0.0]]
    ([[1.5], [np.bool_(True)]], r"\[1, 0\] is True"),
    ((2.0, True), None),  # another rank: the value is named before the shape is checked
])
def test_true_or_false_for_a_number_input_is_one_user_error_naming_where(value, shown):
    """The server answers 400 for `true` where a number belongs; numpy would read it as 1.0 without a word."""
    import tensorflow as tf

    from common.api import _input_tensor

    shown = shown or r"\[1\] is True"
    spec = tf.TensorSpec([None, 1], tf.float32)
    with pytest.raises(UserError, match=rf"^predict input 'x': expected float32 of shape \[batch, 1\]: the "
                                        rf"value at {shown}, not a number \(true/false is not read as "
                                        r"1/0\)$"):
        _input_tensor("x", value, spec)
    with pytest.raises(UserError, match=r"the value at \[1\] is True, not a number"):
        _input_tensor("n", [2, True], tf.TensorSpec([None], tf.int32))
    assert _input_tensor("x", [[1.5], [1]], spec).numpy().tolist() == [[1.5], [1.0]]


@pytest.mark.parametrize("value, shown", [
    ([["1.5"], ["2"]], "'1.5'"),
    (np.array([[1.0], ["x"]], dtype=object), "'x'"),
    (np.array([[1.0], [None]], dtype=object), "None"),
])
def test_strings_or_objects_for_a_number_input_are_one_line_naming_the_first(value, shown):
    import tensorflow as tf

    from common.api import _input_tensor

    with pytest.raises(UserError) as exc:
        _input_tensor("x", value, tf.TensorSpec([None, 1], tf.float32))
    at = "[0, 0]" if shown == "'1.5'" else "[1, 0]"
    assert str(exc.value) == (f"predict input 'x': expected float32 of shape [batch, 1]: the value at {at} "
                              f"is {shown}, not a number")
