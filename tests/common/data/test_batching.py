"""Running a model over inputs sorted by length, with results back in input order."""
from common.data.batching import by_length


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
