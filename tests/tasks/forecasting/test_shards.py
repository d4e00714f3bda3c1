"""A series in many files (one per day, each with its header; a glob, gzip or not) reads as one series."""
import gzip

import numpy as np
import pytest
import tensorflow as tf

from common.errors import DataError
from tasks.forecasting import TASK
from tests.tasks.forecasting.helpers import config_for, hourly, write_csv

ROWS = hourly(72)


def day_files(folder, rows=ROWS):
    """Three daily files, the middle one gzip-compressed."""
    folder.mkdir()
    paths = []
    for day in range(3):
        path = write_csv(folder / f"day-{day}.csv", rows[24 * day:24 * (day + 1)])
        if day == 1:
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
            path = path.with_name(path.name + ".gz")
        paths.append(path)
    return paths


def flat(dataset):
    return [[np.asarray(x).tolist() for x in tf.nest.flatten(batch)] for batch in dataset.as_numpy_iterator()]


def test_daily_shards_give_the_scaler_and_windows_of_the_single_file(tmp_path):
    whole = TASK.prepare(config_for(write_csv(tmp_path / "whole.csv", ROWS)))
    day_files(tmp_path / "days")
    sharded = TASK.prepare(config_for(tmp_path / "days" / "day-*"))
    assert sharded.state == whole.state
    for split in ("train", "val", "test"):
        assert np.array_equal(sharded.scaled[split], whole.scaled[split])
        assert flat(getattr(sharded, split)) == flat(getattr(whole, split))


def test_a_bad_value_in_a_middle_shard_names_that_file_and_its_line(tmp_path):
    rows = list(ROWS)
    rows[24 + 5] = rows[24 + 5].rsplit(",", 1)[0] + ",oops"  # day 1, its 6th row: line 7 of its file
    paths = day_files(tmp_path / "days", rows)
    with pytest.raises(DataError) as error:
        TASK.prepare(config_for(tmp_path / "days" / "day-*"))
    assert str(error.value).startswith(f"{paths[1]}:7: column 'b' holds 'oops', not a number")


def test_a_gap_between_two_shards_names_the_first_row_after_it(tmp_path):
    paths = day_files(tmp_path / "days", ROWS[:24] + ROWS[25:] + hourly(1, "2024-01-04"))
    with pytest.raises(DataError) as error:
        TASK.prepare(config_for(tmp_path / "days" / "day-*"))
    assert str(error.value).startswith(f"{paths[1]}:2: gap in the series")
