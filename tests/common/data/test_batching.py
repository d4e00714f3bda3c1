"""Running a model over inputs sorted by length, with results back in input order."""
from common.data.batching import by_length, by_length_stream
from tests.common.terminal import on_a_terminal


def test_results_come_back_in_input_order_and_batches_hold_similar_lengths():
    items = ["a b c", "a", "a b c d e", "a b", ""]
    batches = []

    def run(batch):
        batches.append(batch)
        return [len(text.split()) for text in batch]

    assert by_length(items, lambda t: len(t.split()), 2, run) == [3, 1, 5, 2, 0]
    assert batches == [["", "a"], ["a b", "a b c"], ["a b c d e"]]


def test_no_items_run_no_batches():
    assert by_length([], len, 4, lambda batch: 1 / 0) == []


def test_a_long_run_shows_one_bar_of_inputs_on_a_terminal_and_none_when_the_caller_has_its_own(monkeypatch):
    terminal = on_a_terminal(monkeypatch)
    assert by_length(["a", "a b", "a b c"], len, 2, lambda batch: batch) == ["a", "a b", "a b c"]
    assert "running the model:  67%|" in terminal.getvalue()  # after the first batch, of 2 inputs
    terminal.truncate(0)
    by_length(["a", "a b", "a b c"], len, 2, lambda batch: batch, what=None)
    assert terminal.getvalue() == ""


def test_a_stream_runs_each_window_sorted_by_length_and_gives_pairs_in_input_order():
    items = iter(["a b c", "a", "a b c d e", "a b", "", "a b c d"])
    batches = []

    def run(batch):
        batches.append(batch)
        return [len(text.split()) for text in batch]

    pairs = list(by_length_stream(items, lambda t: len(t.split()), 2, run, window=4))
    assert pairs == [("a b c", 3), ("a", 1), ("a b c d e", 5), ("a b", 2), ("", 0), ("a b c d", 4)]
    assert batches == [["a", "a b"], ["a b c", "a b c d e"], ["", "a b c d"]]
