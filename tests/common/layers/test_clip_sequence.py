"""ClipSequence: bounded batch length without a fixed output length."""
import numpy as np
import pytest
from keras import ops

from common.layers.clip_sequence import ClipSequence
from tests.harness import NO_MASK, run_layer_test


@pytest.mark.parametrize("ids, expected_output_shape", [
    (np.arange(1, 15, dtype="int64").reshape(2, 7), (2, 3)),
    (np.array([[1, 2], [3, 0]], dtype="int64"), (2, 2)),
    (np.zeros((2, 0), "int64"), (2, 1)),
], ids=["long", "short", "empty"])
def test_clip_sequence_passes_the_layer_harness(ids, expected_output_shape, tmp_path):
    run_layer_test(ClipSequence, {"max_length": 3}, ids, tmp_path,
                   expected_output_shape=expected_output_shape, expected_mask=NO_MASK)


def test_clip_sequence_truncates_long_and_keeps_one_step_for_empty_batches():
    assert tuple(ops.shape(ClipSequence(3)(np.ones((2, 7), "int64")))) == (2, 3)
    empty = ops.convert_to_numpy(ClipSequence(3)(np.zeros((2, 0), "int64")))
    assert empty.shape == (2, 1) and not empty.any()
