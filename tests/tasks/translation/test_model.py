"""The encoder-decoder model: the decoding step agrees with the training graph, options, save/load."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from common.layers.attentive_decoder import ContextFeedingDecoder
from tasks.translation.model import (
    MaskedSequenceLoss,
    MaskedTokenAccuracy,
    Seq2SeqInference,
    build_seq2seq,
)

START, END = 2, 3
SOURCE = np.array([[5, 6, 7, END, 0], [4, END, 0, 0, 0]], "int32")
TARGET_IN = np.array([[START, 5, 6, 7], [START, 8, 0, 0]], "int32")
TARGET_OUT = np.array([[5, 6, 7, END], [8, END, 0, 0]], "int32")


def tiny(**overrides):
    """A small model; the Luong decoder (``feed_context=False``) unless an option says otherwise."""
    kwargs = dict(embedding_dim=8, encoder=dict(cell="lstm", units=6, bidirectional=True),
                  decoder_cell="gru", decoder_units=12, attention="bahdanau", attention_units=5, dropout=0.1,
                  feed_context=False)
    kwargs.update(overrides)
    return build_seq2seq(20, 15, **kwargs)


VARIANTS = [dict(), dict(decoder_cell="lstm", attention="luong_dot", tie_embeddings=True),
            dict(attention="luong_general", encoder=dict(cell="gru", units=12, num_layers=2)),
            dict(scheduled_sampling=0.5), dict(feed_context=True),
            dict(feed_context=True, decoder_cell="lstm", attention="luong_dot", tie_embeddings=True)]


@pytest.mark.parametrize("options", VARIANTS)
def test_decoding_step_reproduces_the_teacher_forced_logits(options):
    model = tiny(**options)
    logits = model({"source": SOURCE, "target_in": TARGET_IN}, training=False).numpy()
    inference = Seq2SeqInference(model, START, END)
    state, constants = inference.encode(SOURCE)
    for t in range(TARGET_IN.shape[1]):
        step_logits, state = inference.step(tf.constant(TARGET_IN[:, t]), state, constants)
        allowed = slice(END, None)  # pad and start are banned in the step, so compare the rest
        for row in range(len(SOURCE)):  # row 1 is padded: its source and target masks matter
            if TARGET_IN[row, t]:
                np.testing.assert_allclose(step_logits.numpy()[row, allowed], logits[row, t, allowed],
                                           atol=1e-5)


def test_step_never_emits_padding_or_start():
    inference = Seq2SeqInference(tiny(), START, END)
    state, constants = inference.encode(SOURCE)
    logits, _ = inference.step(tf.constant([START, START]), state, constants)
    assert np.all(logits.numpy()[:, [0, START]] < -1e8)


@pytest.mark.parametrize("options", VARIANTS[:2] + VARIANTS[-1:])
def test_model_file_reloads_with_identical_outputs(tmp_path, options):
    model = tiny(**options)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    inputs = {"source": SOURCE, "target_in": TARGET_IN}
    np.testing.assert_allclose(again(inputs).numpy(), model(inputs).numpy(), atol=1e-6)


def test_context_feeding_decoder_trains_its_attention_through_the_loop():
    model = tiny(feed_context=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=MaskedSequenceLoss())
    decoder = model.get_layer("decoder_rnn")
    before = [w.numpy().copy() for w in decoder.attention.weights + decoder.cell.weights]
    inputs = {"source": SOURCE, "target_in": TARGET_IN}
    losses = [float(model.train_on_batch(inputs, TARGET_OUT)) for _ in range(20)]
    after = decoder.attention.weights + decoder.cell.weights
    assert all(np.abs(a.numpy() - b).max() > 0 for a, b in zip(after, before))
    assert losses[-1] < losses[0] / 2


def test_loss_ignores_padding_and_is_the_mean_over_real_tokens():
    logits = np.random.default_rng(0).normal(size=(2, 4, 15)).astype("float32")
    got = float(MaskedSequenceLoss()(TARGET_OUT, logits))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = [-log_probs[b, t, TARGET_OUT[b, t]] for b in range(2) for t in range(4) if TARGET_OUT[b, t]]
    assert got == pytest.approx(np.mean(picked), rel=1e-5)
    changed = logits.copy()
    changed[1, 2:] += 100.0  # padded positions
    assert float(MaskedSequenceLoss()(TARGET_OUT, changed)) == pytest.approx(got, rel=1e-6)


def test_label_smoothing_penalises_overconfidence():
    confident = np.full((2, 4, 15), -20.0, "float32")
    for b in range(2):
        for t in range(4):
            confident[b, t, TARGET_OUT[b, t]] = 20.0
    assert float(MaskedSequenceLoss()(TARGET_OUT, confident)) < 1e-6
    assert float(MaskedSequenceLoss(label_smoothing=0.1)(TARGET_OUT, confident)) > 1.0


def test_token_accuracy_counts_real_tokens_only():
    logits = np.zeros((2, 4, 15), "float32")
    logits[0, np.arange(4), TARGET_OUT[0]] = 1.0  # sentence 0 all right, sentence 1 all wrong (argmax 0)
    metric = MaskedTokenAccuracy()
    metric.update_state(TARGET_OUT, logits)
    assert float(metric.result()) == pytest.approx(4 / 6)


def test_the_context_feeding_decoder_is_the_default():
    model = build_seq2seq(20, 15, embedding_dim=8, encoder=dict(units=6), decoder_units=12, attention_units=5)
    assert isinstance(model.get_layer("decoder_rnn"), ContextFeedingDecoder)


def test_bad_decoder_cell_is_rejected():
    with pytest.raises(ValueError, match="decoder_cell must be one of gru, lstm"):
        tiny(decoder_cell="simple_rnn")
