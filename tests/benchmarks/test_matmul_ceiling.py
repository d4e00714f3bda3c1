"""The matmul ceiling's report and worker: what it measures and how it sets rnn_speed against it. The
one worker run uses tiny sizes; no figure is checked against a speed."""
import json

from benchmarks import matmul_ceiling
from benchmarks.matmul_ceiling import against_rnn_speed, markdown, parse_args, run_worker

PEAK = {"cpu": "AMD EPYC", "cores": 1, "fma_units": 2, "fp32_lanes": 16, "ghz": 2.6,
        "clock_source": "/proc/cpuinfo cpu MHz", "gflops": 166.4}


def _doc():
    return {"command": "python -m benchmarks.matmul_ceiling", "machine": {"cpu": "AMD EPYC", "started": "now"},
            "settings": {"repeats": 5, "batch": 64}, "peaks": {"1": PEAK}, "load_before": 0.1,
            "load_after": 1.0,
            "ceilings": [{"threads": 1, "large_gflops": 110.0,
                          "step_gflops": {"lstm/128": 80.0, "lstm/256": 100.0}}]}


def _speed_row(hidden, gflops):
    return {"shape": {"cell": "lstm", "direction": "uni", "hidden": hidden, "seq": 32, "batch": 64, "threads": 1},
            "candidates": {name: {"gflops": g} for name, g in gflops.items()}}


def test_the_report_gives_each_rate_and_its_share_of_the_arithmetic_peak():
    text = markdown(_doc(), None)
    assert "| 1 | 166.4 | 110.0 (66%) | 80.0 (48%) | 100.0 (60%) |" in text
    assert "step lstm/128 | step lstm/256" in text


def test_rnn_speed_figures_are_given_as_a_share_of_the_step_ceiling_of_their_own_hidden_size():
    speed = {"command": "python -m benchmarks.rnn_speed", "machine": {"started": "then"},
             "shapes": [_speed_row(128, {"rnnsuite": 40.0, "torch": 60.0}),
                        _speed_row(256, {"rnnsuite": 90.0, "torch": 50.0})]}
    lines = against_rnn_speed(_doc(), speed)
    assert "| lstm | uni | 1 | 50%–90% (70%) | 50%–75% (62%) |" in lines


def test_shapes_without_a_measured_ceiling_are_left_out():
    speed = {"machine": {"started": "then"}, "shapes": [_speed_row(512, {"rnnsuite": 40.0})]}
    assert against_rnn_speed(_doc(), speed) == []


def test_a_worker_measures_every_cell_and_hidden_size_at_its_thread_count():
    args = parse_args(["--cells", "gru", "--hidden", "8", "16", "--batch", "4", "--repeats", "1"])
    result = run_worker(1, args)
    assert result["threads"] == 1 and result["intra_op_threads"] == 1
    assert set(result["step_gflops"]) == {"gru/8", "gru/16"}
    assert all(v > 0 for v in result["step_gflops"].values()) and result["large_gflops"] > 0
    json.dumps(result)


def test_the_worker_answers_on_one_marked_line(capsys, monkeypatch):
    monkeypatch.setattr(matmul_ceiling, "measure", lambda *a: {"threads": a[0], "echo": list(a[1:])})
    matmul_ceiling.main(["--worker", json.dumps({"threads": 2, "cells": ["lstm"], "hidden": [4], "batch": 3,
                                                 "repeats": 1})])
    out = capsys.readouterr().out.strip()
    assert out.startswith(matmul_ceiling.MARKER)
    assert json.loads(out[len(matmul_ceiling.MARKER):]) == {"threads": 2, "echo": [["lstm"], [4], 3, 1]}
