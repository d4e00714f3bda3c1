"""The context-feeding decoder: shapes, serialization and agreement with its one-step form."""
import numpy as np
import pytest

from common.layers.attentive_decoder import ContextFeedingDecoder
from tests.harness import NO_MASK, run_layer_test

rng = np.random.default_rng(0)
EMBEDDED = rng.normal(size=(2, 4, 3)).astype("float32")
MEMORY = rng.normal(size=(2, 5, 6)).astype("float32")
SOURCE_MASK = np.array([[True, True, True, False, False], [True] * 5])


def _state(cell, units):
    return [rng.normal(size=(2, units)).astype("float32") for _ in range(2 if cell == "lstm" else 1)]


@pytest.mark.parametrize("init_kwargs", [
    {"cell": "gru", "units": 6, "attention": "bahdanau", "attention_units": 4},
    {"cell": "lstm", "units": 6, "attention": "luong_dot"},
    {"cell": "gru", "units": 5, "attention": "luong_general"},
], ids=["gru-bahdanau", "lstm-luong-dot", "gru-luong-general"])
def test_context_feeding_decoder_passes_the_layer_harness(init_kwargs, tmp_path):
    units = init_kwargs["units"]
    run_layer_test(ContextFeedingDecoder, init_kwargs, EMBEDDED, tmp_path,
                   call_kwargs={"memory": MEMORY, "initial_state": _state(init_kwargs["cell"], units),
                                "source_mask": SOURCE_MASK},
                   expected_output_shape=[(2, 4, units), (2, 4, 6)], expected_mask=NO_MASK)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_the_sequence_call_equals_one_step_at_a_time(cell):
    decoder = ContextFeedingDecoder(cell=cell, units=6, attention="bahdanau", attention_units=4)
    state = _state(cell, 6)
    outputs, contexts = decoder(EMBEDDED, MEMORY, initial_state=state, source_mask=SOURCE_MASK)
    keys = decoder.attention.project_keys(MEMORY)
    for t in range(EMBEDDED.shape[1]):
        output, context, state, _ = decoder.step(EMBEDDED[:, t], state, MEMORY, keys, SOURCE_MASK)
        np.testing.assert_allclose(np.asarray(output), np.asarray(outputs)[:, t], atol=1e-5)
        np.testing.assert_allclose(np.asarray(context), np.asarray(contexts)[:, t], atol=1e-5)
