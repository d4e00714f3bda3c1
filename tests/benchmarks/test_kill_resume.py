"""The kill-and-resume check's pure parts: the comparisons that decide pass or fail, the phase a killed run
folder shows, and the seeded kill moments."""
import io
import json
import zipfile

import h5py
import numpy as np
import pytest

from benchmarks.kill_resume import (compare_runs, draw_moments, first_array_difference,
                                    first_json_difference, first_text_difference, keras_weights, leftovers,
                                    phase_of)

HISTORY = b"epoch,loss\n0,0.6917858123779297\n1,0.64983069896698\n"


def test_equal_files_have_no_difference():
    assert first_text_difference(HISTORY, bytes(HISTORY)) is None


def test_a_float_that_differs_in_its_last_digit_is_reported_with_its_line():
    other = HISTORY.replace(b"0.64983069896698", b"0.64983069896699")
    assert first_text_difference(HISTORY, other) == ("line 3: '1,0.64983069896698' != '1,0.64983069896699'")


def test_a_missing_last_row_is_a_difference():
    assert first_text_difference(HISTORY, HISTORY.rsplit(b"\n", 2)[0] + b"\n") == "3 lines != 2 lines"


def test_other_line_endings_are_a_difference():
    assert first_text_difference(HISTORY, HISTORY.replace(b"\n", b"\r\n")) is not None


def test_json_timings_are_ignored():
    a = {"test": {"accuracy": 0.9}, "training": {"train_seconds": 10.2, "best_epoch": 3}}
    b = {"test": {"accuracy": 0.9}, "training": {"train_seconds": 12.9, "best_epoch": 3}}
    assert first_json_difference(a, b) is None


def test_a_json_float_that_differs_in_its_last_bit_is_named_by_its_path():
    a = {"test": {"confusion_matrix": [[5, 1]], "roc_auc": 0.1 + 0.2}}
    b = {"test": {"confusion_matrix": [[5, 1]], "roc_auc": 0.3}}
    assert first_json_difference(a, b) == f"test.roc_auc: {0.1 + 0.2!r} != 0.3"


def test_a_json_list_item_difference_is_named_by_its_index():
    assert first_json_difference({"m": [[5, 1], [0, 4]]}, {"m": [[5, 1], [1, 3]]}) == "m.1.0: 0 != 1"


def test_a_json_key_missing_on_one_side_is_a_difference():
    found = first_json_difference({"test": {}, "baselines": {}}, {"test": {}})
    assert found == "baselines: only in the reference"


def test_json_int_and_float_of_the_same_value_differ():
    assert first_json_difference({"best_epoch": 3}, {"best_epoch": 3.0}) == "best_epoch: 3 != 3.0"


def test_arrays_with_the_same_bits_are_equal_and_one_ulp_is_not():
    a = {"w": np.array([1.0, 2.0], dtype="float32")}
    b = {"w": np.array([1.0, np.nextafter(np.float32(2.0), np.float32(3.0))], dtype="float32")}
    assert first_array_difference(a, {"w": a["w"].copy()}) is None
    assert first_array_difference(a, b) == "w: max |difference| 2.38e-07"


def test_string_arrays_are_compared_by_value():
    labels = lambda *v: np.array([x.encode() for x in v], dtype=object)  # noqa: E731 - what TF returns
    assert first_array_difference({"label": labels("pos", "neg")}, {"label": labels("pos", "neg")}) is None
    assert first_array_difference({"label": labels("pos", "neg")},
                                  {"label": labels("pos", "pos")}) == "label: values differ"


def test_arrays_of_another_shape_or_dtype_differ():
    assert "shape/dtype" in first_array_difference({"w": np.zeros(2, "float32")},
                                                   {"w": np.zeros(2, "float64")})
    assert "shape/dtype" in first_array_difference({"w": np.zeros(2)}, {"w": np.zeros(3)})


def write_run(folder, weights, history=HISTORY, predictions=b"text,label\na,pos\n", metrics=None):
    folder.mkdir(parents=True)
    (folder / "history.csv").write_bytes(history)
    (folder / "predictions_test.csv").write_bytes(predictions)
    (folder / "metrics.json").write_text(json.dumps(metrics or {"test": {"accuracy": 0.5}}))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle["layers/dense/vars/0"] = weights
    with zipfile.ZipFile(folder / "model.keras", "w") as archive:
        archive.writestr("model.weights.h5", buffer.getvalue())
    return folder


def test_two_runs_with_the_same_artifacts_have_no_difference(tmp_path):
    timed = lambda seconds: {"test": {"accuracy": 0.5}, "training": {"train_seconds": seconds}}  # noqa: E731
    a = write_run(tmp_path / "a", np.arange(4, dtype="float32"), metrics=timed(3.0))
    b = write_run(tmp_path / "b", np.arange(4, dtype="float32"), metrics=timed(4.5))
    assert compare_runs(a, b) == {"history.csv": None, "predictions_test.csv": None, "metrics.json": None,
                                  "model.keras weights": None}


def test_a_run_whose_weights_or_predictions_differ_is_reported_for_each(tmp_path):
    a = write_run(tmp_path / "a", np.arange(4, dtype="float32"))
    b = write_run(tmp_path / "b", np.arange(4, dtype="float32") + 1, predictions=b"text,label\na,neg\n")
    found = compare_runs(a, b)
    assert found["model.keras weights"] == "layers/dense/vars/0: max |difference| 1"
    assert found["predictions_test.csv"] == "line 2: 'a,pos' != 'a,neg'"
    assert found["history.csv"] is None and found["metrics.json"] is None


def test_a_resumed_run_missing_its_predictions_is_a_difference(tmp_path):
    a = write_run(tmp_path / "a", np.zeros(2))
    b = write_run(tmp_path / "b", np.zeros(2))
    (b / "predictions_test.csv").unlink()
    assert compare_runs(a, b)["predictions_test.csv"] == f"missing in {b / 'predictions_test.csv'}"


def test_keras_weights_reads_every_array_of_the_archive(tmp_path):
    run = write_run(tmp_path / "a", np.array([[1.5, 2.5]], dtype="float32"))
    weights = keras_weights(run / "model.keras")
    assert list(weights) == ["layers/dense/vars/0"]
    np.testing.assert_array_equal(weights["layers/dense/vars/0"], [[1.5, 2.5]])


@pytest.mark.parametrize("files, phase", [
    ({}, "startup"),
    ({"config.yaml": "", "state.json": "{}"}, "training epoch 1 (nothing backed up)"),
    ({"state.json": "{}", "history.csv": "epoch\n0\n1\n", "checkpoints/backup/backup.json": '{"epoch": 2}'},
     "training epoch 3 (2 backed up)"),
    ({"state.json": "{}", "history.csv": "epoch\n0\n1\n2\n3\n"}, "training: after the fit"),
    ({"checkpoints/training.json": "{}"}, "saving the model"),
    ({"model.keras": ""}, "evaluation"),
    ({"model.keras": "", "metrics.json": "{}"}, "export"),
    ({"model.keras": "", "metrics.json": "{}", "export/saved_model.pb": ""}, "finished"),
])
def test_the_phase_is_read_from_the_files_a_killed_run_left(tmp_path, files, phase):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert phase_of(tmp_path, epochs=4) == phase


def test_leftovers_are_temporary_folders_and_partial_files(tmp_path):
    (tmp_path / ".export.abc123").mkdir()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.partial.weights.h5").write_text("")
    (tmp_path / "history.csv").write_text("")
    assert leftovers(tmp_path) == [".export.abc123", "checkpoints/best.partial.weights.h5"]


def test_kill_moments_are_seeded_and_within_the_run():
    moments = draw_moments(10, 40.0, seed=0)
    assert moments == draw_moments(10, 40.0, seed=0) != draw_moments(10, 40.0, seed=1)
    assert len(moments) == 10 and all(0.0 <= m <= 40.0 for m in moments)
