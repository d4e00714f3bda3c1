"""The PyTorch peer benchmark's pure parts: arguments it refuses, the stop without PyTorch, the ratio summary,
and the recipe's batching as the worker reproduces it (no torch needed)."""
import random
from types import SimpleNamespace

import pytest

from benchmarks import _torch_peer_worker as worker
from benchmarks import torch_peer


def args(**changes):
    values = {"rounds": 2, "batches": 0, "warmup": 5, "sst2_warmup": 200, "threads": 2,
              "benchmarks": ["lm", "sst2"]}
    return SimpleNamespace(**{**values, **changes})


@pytest.mark.parametrize("changes, message", [
    ({"rounds": 0}, "--rounds must be at least 1"),
    ({"batches": -1}, "--batches must be 0"),
    ({"warmup": 0}, "--warmup and --sst2-warmup must be at least 1"),
    ({"sst2_warmup": 0}, "--warmup and --sst2-warmup must be at least 1"),
    ({"threads": 0}, "--threads must be at least 1"),
    ({"benchmarks": ["lm", "gpt"]}, "unknown gpt"),
])
def test_settings_that_cannot_compare_stop_with_one_line(changes, message):
    with pytest.raises(SystemExit, match=message):
        torch_peer.check_args(args(**changes))


def test_the_defaults_pass():
    torch_peer.check_args(args())


def test_a_missing_torch_python_stops_with_one_line_saying_how_to_get_one(tmp_path):
    with pytest.raises(SystemExit) as stop:
        torch_peer.check_torch_python(str(tmp_path / "nope" / "python"))
    message = str(stop.value)
    assert "\n" not in message and "no PyTorch python at" in message and "scripts/setup_torch.sh" in message


def run(seconds, batches, epoch_batches, warmup_s=1.0):
    return {"seconds": seconds, "batches": batches, "epoch_batches": epoch_batches, "warmup_s": warmup_s}


def test_epoch_time_is_the_timed_seconds_scaled_to_the_epoch():
    assert torch_peer.epoch_seconds(run(10.0, 100, 415)) == pytest.approx(41.5)


def test_the_ratio_is_torch_over_ours_per_round_median_and_range():
    rounds = [{"ours": run(10.0, 100, 400), "torch": run(15.0, 100, 400)},   # 1.5
              {"ours": run(20.0, 100, 400), "torch": run(20.0, 100, 400)},   # 1.0
              {"ours": run(10.0, 100, 400), "torch": run(12.0, 100, 400)}]   # 1.2
    row = torch_peer.summary("lm", rounds)
    assert row["torch/ours"] == pytest.approx(1.2)
    assert row["range"] == "1.00-1.50"
    assert row["ours s/epoch"] == pytest.approx(40.0) and row["torch s/epoch"] == pytest.approx(60.0)
    assert (row["timed batches"], row["epoch batches"]) == ("100", "400/400")


def test_the_bar_is_read_at_the_median_when_the_rounds_split_but_agree_closely():
    row = {"benchmark": "lm", "torch/ours": 1.1, "ratios": [0.98, 1.1, 1.2]}
    (line,) = torch_peer.goal_lines([row])
    assert "**met** at the median 1.10" in line and "2 of 3 rounds" in line and "aim not reached" in line
    assert torch_peer.goal_lines([{**row, "benchmark": "sst2"}]) == []


def test_every_round_on_one_side_of_the_bar_decides_whatever_the_spread():
    (line,) = torch_peer.goal_lines([{"benchmark": "lm", "torch/ours": 0.8, "ratios": [0.4, 0.8, 0.9]}])
    assert "**missed** in every round" in line
    (line,) = torch_peer.goal_lines([{"benchmark": "lm", "torch/ours": 1.4, "ratios": [1.05, 1.4, 2.0]}])
    assert "**met** in every round" in line and "aim reached" in line


def test_rounds_on_both_sides_that_disagree_too_much_give_no_verdict():
    (line,) = torch_peer.goal_lines([{"benchmark": "lm", "torch/ours": 0.99, "ratios": [0.63, 1.35]}])
    assert "**no verdict**" in line and "0.63-1.35" in line and "**met" not in line


def test_the_worker_buckets_texts_by_the_suites_length_edges():
    from tasks.sentiment.dataset import LENGTH_BUCKETS
    assert worker.LENGTH_BUCKETS == LENGTH_BUCKETS


def test_bucket_batches_cover_every_example_once_each_batch_from_one_bucket():
    lengths = [1, 2, 3, 5, 6, 9, 13, 3, 2, 7] * 7
    batches = worker.bucket_batches(lengths, 4, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    bucket = [sum(n >= edge for edge in worker.LENGTH_BUCKETS) for n in lengths]
    assert all(len({bucket[i] for i in b}) == 1 and len(b) <= 4 for b in batches)
    sizes = [bucket.count(k) for k in set(bucket)]
    assert len(batches) == sum(-(-s // 4) for s in sizes)  # ceil(size / batch) per bucket, as tf.data's


def test_the_recipe_reads_ptb_with_an_eos_per_line_and_one_dictionary(tmp_path):
    (tmp_path / "ptb.train.txt").write_text(" a b \n b c \n")
    (tmp_path / "ptb.valid.txt").write_text(" d \n")
    (tmp_path / "ptb.test.txt").write_text(" a \n")
    ids, size = worker.corpus_ids(str(tmp_path))
    assert ids == [0, 1, 2, 1, 3, 2] and size == 5  # a b <eos> b c <eos>; d only from valid


def test_the_recipe_starts_a_batch_every_bptt_steps_of_the_stream():
    assert worker.window_starts(14524, 35) == list(range(0, 14523, 35))
    assert len(worker.window_starts(929589 // 64, 35)) == 415  # PTB at batch 64: 415 batches an epoch
