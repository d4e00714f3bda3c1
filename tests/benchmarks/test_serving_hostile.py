"""The hostile serving benchmark's pure helpers: summaries, /proc parsing, outcome counts, the bar, the report
(the timing itself is not tested)."""
import math

from benchmarks import serving_hostile as sh


def test_a_latency_summary_is_milliseconds_at_the_percentiles():
    summary = sh.latency_summary([i / 1000 for i in range(1, 101)])  # 1 ms .. 100 ms
    assert summary == {"n": 100, "p50 ms": 51.0, "p99 ms": 99.0, "max ms": 100.0}


def test_no_latencies_summarise_as_nan_with_a_count_of_zero():
    summary = sh.latency_summary([])
    assert summary["n"] == 0 and all(math.isnan(summary[k]) for k in ("p50 ms", "p99 ms", "max ms"))


def test_memory_fields_are_read_from_proc_status_in_kib():
    text = "Name:\tpython\nVmHWM:\t  812345 kB\nVmRSS:\t  701234 kB\nThreads:\t9\n"
    got = sh.vm_kib(text, "VmRSS"), sh.vm_kib(text, "VmHWM"), sh.vm_kib(text, "VmSwap")
    assert got == (701234, 812345, None)


def test_outcome_counts_add_up_per_category_and_outcome():
    merged = sh.merge_counts({"generation": {"400": 2, "200": 1}},
                             {"generation": {"400": 3}, "slowloris": {"408": 1}})
    assert merged == {"generation": {"400": 5, "200": 1}, "slowloris": {"408": 1}}


def test_only_server_errors_timeouts_and_refusals_are_unexpected():
    counts = {"malformed": {"400": 9, "503": 1}, "slowloris": {"408": 2, "closed": 2},
              "disconnect": {"sent": 5}, "generation": {"timeout": 1, "200": 3}}
    assert sh.unexpected(counts) == {"malformed": {"503": 1}, "generation": {"timeout": 1}}


def row(phase, p99, rss):
    return {"phase": phase, "p99 ms": p99, "peak RSS MiB": rss}


def test_the_bar_takes_the_worst_hostile_p99_and_the_worst_rss_of_any_phase():
    rows = [row("baseline", 150.0, 700.0), row("hostile", 40.0, 900.0), row("hostile", 60.0, 800.0)]
    v = sh.verdict(rows, alive=True, counts={"malformed": {"400": 1}})
    assert (v["worst hostile p99 ms"], v["worst peak RSS MiB"], v["passed"]) == (60.0, 900.0, True)


def test_the_bar_fails_on_each_of_latency_memory_a_dead_server_and_a_5xx():
    ok = [row("hostile", 50.0, 800.0)]
    assert sh.verdict([row("hostile", 100.0, 800.0)], True, {})["checks"]["p99 under 100 ms"] is False
    assert sh.verdict([row("hostile", 50.0, 1024.0)], True, {})["checks"]["RSS under 1 GiB"] is False
    assert sh.verdict(ok, False, {})["checks"]["still answering"] is False
    assert sh.verdict(ok, True, {"big_bodies": {"500": 1}})["checks"]["no 5xx or hang"] is False


def test_serve_flags_override_the_default_limits_the_mix_aims_at():
    limits = sh.parse_limits(["--max-body", "1048576", "--timeout", "2.5", "--max-batch", "8"])
    assert limits == {**sh.DEFAULT_LIMITS, "max_body": 1048576, "timeout": 2.5}


def test_the_hostile_bodies_sit_at_and_around_the_limits():
    limits = {"max_body": 50_000, "max_text": 1000, "max_tokens": 64, "timeout": 5.0}
    bodies = sh.hostile_bodies(limits)
    assert 40_000 < len(bodies["near_max_body"]) <= limits["max_body"]
    assert b'"' + b"w" * 1001 + b'"' in bodies["text_over_max"]
    assert b'"' + b"w" * 1000 + b'"' in bodies["text_at_max"]
    assert b'"max_tokens": 64' in bodies["gen_cap"] and b'"max_tokens": 1000000000' in bodies["gen_huge"]


def test_the_report_names_the_command_the_verdict_and_each_outcome():
    doc = {"command": "python -m benchmarks.serving_hostile --seconds 5",
           "machine": {"cpu": "CPU", "nproc": 2, "tensorflow": "2.21.0", "load_average": [0.5, 0, 0]},
           "args": {"rounds": 1, "seconds": 5.0},
           "rows": [{"server": "sentiment", "round": 1, "phase": "hostile", "n": 10, "p50 ms": 2.5,
                     "p99 ms": 9.0, "max ms": 9.5, "errors": 0, "peak RSS MiB": 800.0, "VmHWM MiB": 810.0}],
           "hostile_counts": {"big_bodies": {"413": 2, "200": 1}},
           "verdict": {"passed": True, "checks": {"p99 under 100 ms": True}}}
    text = sh.markdown(doc)
    assert "`python -m benchmarks.serving_hostile --seconds 5`" in text and "**Passed**" in text
    assert "| sentiment | 1     | hostile | 10 | 2.5" in text
    assert "| big_bodies | 1   | 2   |" in text
