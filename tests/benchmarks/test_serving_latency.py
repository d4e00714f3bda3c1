"""The serving benchmark's arguments and report (the timing itself is not tested)."""
import argparse

import pytest

from benchmarks.serving_latency import markdown, parse_run


def test_a_run_is_a_task_and_a_folder():
    assert parse_run("sentiment=runs/sentiment/sst2") == ("sentiment", "runs/sentiment/sst2")


@pytest.mark.parametrize("text", ["runs/sentiment/sst2", "=runs/x", "sentiment="])
def test_a_run_without_both_parts_is_refused_with_the_expected_form(text):
    with pytest.raises(argparse.ArgumentTypeError, match="TASK=RUN_DIR"):
        parse_run(text)


def test_the_report_names_the_command_machine_and_one_row_per_signature():
    doc = {"command": "python -m benchmarks.serving_latency --run ner=runs/ner/x",
           "machine": {"cpu": "CPU", "nproc": 2, "tensorflow": "2.21.0", "load_average": [0.5, 0, 0]},
           "args": {"calls": 200, "batch": 64, "batch_calls": 10},
           "rows": [{"task": "ner", "run": "runs/ner/x", "signature": "serving_default", "batch1 p50 ms": 1.5,
                     "batch1 p99 ms": 2.25, "batch64 rows/s": 900.0}]}
    text = markdown(doc)
    assert "`python -m benchmarks.serving_latency --run ner=runs/ner/x`" in text
    assert "| ner  | runs/ner/x | serving_default | 1.5" in text
