"""ScheduledSampling: mixes the model's own predictions into the decoder input, in training only."""
import numpy as np

from tasks.translation.layers import ScheduledSampling
from tests.harness import run_layer_test

START = 2
TARGET_IN = np.array([[START, 5, 6, 7], [START, 8, 0, 0]], "int32")
PREDICTED = np.zeros((2, 4, 15), "float32")
PREDICTED[..., 9] = 1.0  # the "model" always predicts token 9


def test_passes_the_layer_checks_and_is_the_identity_outside_training(tmp_path):
    out = run_layer_test(ScheduledSampling, {"rate": 0.5, "seed": 3}, [TARGET_IN, PREDICTED], tmp_path,
                         expected_output_shape=(2, 4))
    np.testing.assert_array_equal(np.asarray(out), TARGET_IN)


def test_only_mixes_during_training_and_keeps_start_and_padding():
    layer = ScheduledSampling(rate=1.0, seed=0)
    assert layer([TARGET_IN, PREDICTED], training=False).numpy().tolist() == TARGET_IN.tolist()
    mixed = layer([TARGET_IN, PREDICTED], training=True).numpy()
    assert mixed.tolist() == [[START, 9, 9, 9], [START, 9, 0, 0]]
