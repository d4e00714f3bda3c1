"""The speed benchmark's arithmetic and plumbing: FLOPs, FP32 peak, ratio refusal, round order,
worker environment, report. Nothing here times anything; the one worker run needs .venv-torch
(scripts/setup_torch.sh) and is skipped without it."""
import os

import pytest

from benchmarks import rnn_speed
from benchmarks.rnn_speed import (
    ROOT,
    markdown,
    parse_args,
    peak_gflops,
    ratio_text,
    round_order,
    summarize,
    thread_env,
    train_flops_per_token,
)

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9654 96-Core Processor
cpu MHz\t\t: 2400.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw

processor\t: 1
model name\t: AMD EPYC 9654 96-Core Processor
cpu MHz\t\t: 3700.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512bw
"""


def test_lstm_flops_count_four_gates_over_input_and_state_three_times_for_training():
    forward = 2 * 4 * 128 * (128 + 128)
    assert train_flops_per_token("lstm", 128, bidirectional=False) == 3 * forward
    assert train_flops_per_token("lstm", 128, bidirectional=True) == 2 * 3 * forward


def test_gru_flops_count_three_gates_and_the_input_width():
    forward = 2 * 3 * 256 * (64 + 256)
    assert train_flops_per_token("gru", 256, bidirectional=False, input_dim=64) == 3 * forward
    assert train_flops_per_token("gru", 256, True) == 2 * train_flops_per_token("gru", 256, False)
    assert train_flops_per_token("gru", 512, False) * 4 == train_flops_per_token("lstm", 512, False) * 3


def test_peak_from_cpuinfo_uses_the_first_processor_avx512_lanes_and_its_clock():
    peak = peak_gflops(CPUINFO, cores=2, fma_units=2)
    assert (peak["fp32_lanes"], peak["ghz"], peak["clock_source"]) == (16, 2.4, "/proc/cpuinfo cpu MHz")
    assert peak["gflops"] == pytest.approx(2 * 2 * 16 * 2 * 2.4)
    assert peak["cpu"] == "AMD EPYC 9654 96-Core Processor"


def test_peak_prefers_cpufreq_max_and_takes_narrower_vectors_without_avx512():
    avx2 = CPUINFO.replace(" avx512f avx512bw", "")
    peak = peak_gflops(avx2, cores=1, fma_units=1, max_freq_khz=3_000_000)
    assert (peak["fp32_lanes"], peak["ghz"], peak["clock_source"]) == (8, 3.0, "cpufreq cpuinfo_max_freq")
    assert peak["gflops"] == pytest.approx(1 * 1 * 8 * 2 * 3.0)
    assert peak_gflops(avx2.replace(" fma", ""), cores=1)["fp32_lanes"] == 4  # avx2 without FMA: SSE count


def test_peak_without_any_clock_says_so():
    with pytest.raises(ValueError, match="no clock"):
        peak_gflops("processor\t: 0\nflags\t\t: avx2 fma\n", cores=1)


def test_a_ratio_is_refused_when_the_rounds_spread_beyond_the_threshold():
    assert ratio_text([1.0, 1.1, 1.2], max_spread=1.25) == "1.10 [1.00–1.20]"
    assert ratio_text([1.0, 1.3], max_spread=1.25) == "spread too wide (1.30 > 1.25)"
    assert ratio_text([1.0, 1.3], max_spread=1.5).startswith("1.15 [")


def test_rounds_alternate_the_candidates_in_a_fixed_order():
    assert round_order(["rnnsuite", "keras", "torch"], 2) == [
        (0, "rnnsuite"), (0, "keras"), (0, "torch"), (1, "rnnsuite"), (1, "keras"), (1, "torch")]


def test_a_worker_gets_every_pool_inter_op_included_at_the_thread_count():
    base = {"PATH": "/bin", "PYTHONPATH": "/elsewhere", "OMP_NUM_THREADS": "8"}
    env = thread_env(base, 2)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        assert env[name] == "2"
    assert env["TF_NUM_INTEROP_THREADS"] == "2" and env["PATH"] == "/bin"
    assert env["PYTHONPATH"] == os.pathsep.join([str(ROOT), "/elsewhere"])
    assert base["OMP_NUM_THREADS"] == "8"  # the caller's environment is left alone
    assert thread_env({}, 1)["PYTHONPATH"] == str(ROOT)


def test_quick_fills_only_the_options_not_given():
    args = parse_args(["--quick", "--hidden", "16"])
    assert (args.hidden, args.seq, args.threads, args.rounds) == ([16], [32], [1], 3)
    assert parse_args([]).seq == [32, 128, 512]


def _result(rnnsuite_seconds, keras_seconds, check_ok=True):
    shape = {"cell": "lstm", "direction": "uni", "hidden": 128, "seq": 32, "batch": 64, "threads": 1}
    check = {"ok": check_ok, "max_abs_diff": 3e-8 if check_ok else 2e-3}
    rounds = lambda secs: [{"steps": 10, "seconds": s} for s in secs]  # noqa: E731
    return {"shape": shape, "load_before": 1.0, "load_after": 1.5, "candidates": {
        "rnnsuite": {"ready": {"check": check}, "rounds": rounds(rnnsuite_seconds)},
        "keras": {"ready": {}, "rounds": rounds(keras_seconds)}}}


def test_summary_has_tokens_per_second_gflops_and_per_round_ratios():
    row = summarize(_result([1.0, 2.0], [2.0, 3.0]), max_spread=1.25, peak=100.0)
    tokens = 64 * 32 * 10
    suite = row["candidates"]["rnnsuite"]
    assert suite["tokens_per_s"] == [tokens, tokens / 2] and suite["median_tokens_per_s"] == 0.75 * tokens
    assert suite["gflops"] == pytest.approx(0.75 * tokens * train_flops_per_token("lstm", 128, False) / 1e9)
    assert suite["percent_of_peak"] == pytest.approx(suite["gflops"])  # peak 100 GFLOP/s
    assert row["ratios"]["rnnsuite/keras"]["per_round"] == [2.0, 1.5]
    assert row["ratios"]["rnnsuite/keras"]["text"] == "spread too wide (1.33 > 1.25)"


def test_quick_writes_beside_the_full_grid_not_over_it():
    assert (parse_args([]).json, parse_args([]).md) == ("benchmarks/results/rnn_speed.json",
                                                        "benchmarks/results/rnn_speed.md")
    assert parse_args(["--quick"]).json == "benchmarks/results/rnn_speed_quick.json"
    assert parse_args(["--quick", "--md", "x.md"]).md == "x.md"


def test_report_rows_show_refused_ratios_and_failed_checks():
    args = parse_args(["--quick", "--candidates", "rnnsuite", "keras"])
    peaks = {"1": peak_gflops(CPUINFO, cores=1)}
    rows = [summarize(_result([1.0, 1.0], [2.0, 2.1]), 1.25, 100.0),
            summarize(_result([1.0, 2.0], [2.0, 3.0], check_ok=False), 1.25, 100.0)]
    doc = {"command": "python -m benchmarks.rnn_speed --quick",
           "machine": {"cpu": "x", "cpus": 2, "started": "t"}, "settings": vars(args), "peaks": peaks,
           "versions": {}, "load_before": 1.0, "load_after": 2.0, "shapes": rows}
    table = [line for line in markdown(doc).splitlines() if line.startswith("| lstm")]
    assert "2.05 [2.00–2.10]" in table[0] and table[0].endswith("| ok (3.0e-08) |")
    assert "spread too wide" in table[1] and table[1].endswith("| FAILED (2.0e-03) |")
    assert "torch" not in markdown(doc).split("| cell")[1]


def test_report_tallies_the_shapes_that_meet_each_goal():
    args = parse_args(["--quick", "--candidates", "rnnsuite", "keras"])
    peaks = {"1": peak_gflops(CPUINFO, cores=1)}
    rows = [summarize(_result([1.0, 1.0], [1.4, 1.4]), 1.25, 100.0),  # 1.40: met
            summarize(_result([1.0, 1.0], [1.1, 1.2]), 1.25, 100.0),  # 1.15: missed
            summarize(_result([1.0, 2.0], [2.0, 3.0]), 1.25, 100.0)]  # spread 1.33: refused
    doc = {"command": "python -m benchmarks.rnn_speed --quick",
           "machine": {"cpu": "x", "cpus": 2, "started": "t"}, "settings": vars(args), "peaks": peaks,
           "versions": {}, "load_before": 1.0, "load_after": 2.0, "shapes": rows}
    assert ("- rnnsuite/keras ≥ 1.3: met at 1 of 3 shapes, missed at 1, ratio refused at 1; "
            "medians 1.15–1.40.") in markdown(doc).splitlines()
    assert "rnnsuite/torch ≥" not in markdown(doc)


TORCH_PYTHON = ROOT / ".venv-torch/bin/python"


@pytest.mark.skipif(not TORCH_PYTHON.exists(), reason="no .venv-torch (scripts/setup_torch.sh)")
def test_the_torch_worker_answers_ready_then_one_run_without_tensorflow():
    spec = {"candidate": "torch", "cell": "gru", "hidden": 4, "seq": 2, "batch": 2, "bidirectional": True,
            "threads": 1, "warmup": 1, "steps": 1, "round_seconds": 0.0, "pin": False}
    worker = rnn_speed.Worker(str(TORCH_PYTHON), spec, thread_env(dict(os.environ), 1))
    try:
        ready = worker.receive()  # the worker exits if it finds TensorFlow imported
        assert ready["intra_op_threads"] == 1 and ready["inter_op_threads"] == 1 and ready["steps"] == 1
        assert worker.run()["steps"] == 1
    finally:
        worker.close()
    assert worker.proc.returncode == 0
