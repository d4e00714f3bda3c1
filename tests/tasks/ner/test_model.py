"""The tagger: pretrained vectors in the word embedding, the softmax output, decoding, real data."""
import numpy as np
import pytest

from common import lifecycle
from tasks.ner import TASK
from tasks.ner.model import predict_tags
from tests.tasks.ner.helpers import TINY, tiny_config


def test_pretrained_vectors_initialise_the_word_embedding(tmp_path):
    vectors = tmp_path / "glove.txt"
    vectors.write_text("visited 0.1 0.2 0.3\nnever-seen 1 1 1\n")
    config = tiny_config(tmp_path, f"model.pretrained_vectors={vectors}", "model.embedding_dim=3")
    prepared = TASK.prepare(config)
    info = dict(prepared.info)
    model = TASK.build_model(config, prepared)
    row = prepared.state["vocabulary"].index("visited") + 2  # 0: padding, 1: unknown word
    np.testing.assert_allclose(model.get_layer("word_embedding").embeddings.numpy()[row], [0.1, 0.2, 0.3])
    assert prepared.info == info  # build_model reads prepared, never writes it


def test_softmax_output_trains_and_ignores_padding(tmp_path):
    config = tiny_config(tmp_path, "model.crf=false", "model.char_encoder=cnn", "data.max_examples=16")
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    model.compile(optimizer="adam", **TASK.compile_args(config, prepared))
    tokens, tags = next(iter(prepared.val))
    assert (tags.numpy() == -1).any()  # the batch has padding, which the loss must skip
    assert np.isfinite(model.train_on_batch(tokens, tags))
    sentences = [s.tokens for s in prepared.sentences["val"][:3]]
    predicted = predict_tags(model, config, prepared.state["tags"], sentences)
    assert [len(p) for p in predicted] == [len(s) for s in sentences]


def test_predict_tags_returns_results_in_input_order(tmp_path):
    config = tiny_config(tmp_path, "data.max_examples=16")
    prepared = TASK.prepare(config)
    model = TASK.build_model(config, prepared)
    sentences = [s.tokens for s in prepared.sentences["val"][:5]] + [[]]
    batched = predict_tags(model, config, prepared.state["tags"], sentences, batch_size=3)
    one_by_one = [predict_tags(model, config, prepared.state["tags"], [s])[0] for s in sentences]
    assert batched == one_by_one and batched[-1] == []


@pytest.mark.slow
def test_conll2003_loads_and_trains_one_epoch_on_a_subset(shared_data, tmp_path):
    sets = [f"{k}={v}" for k, v in {"data.train": shared_data / "conll2003" / "train.txt",
                                    "data.val": shared_data / "conll2003" / "valid.txt",
                                    "data.test": shared_data / "conll2003" / "test.txt"}.items()]
    config = lifecycle.load_config(TASK, TASK.demo_config_path.parent / "ner_conll2003.yaml",
                                   sets + TINY + ["data.max_examples=64", "model.char_encoder=cnn"])
    prepared = TASK.prepare(config)
    assert prepared.state["tags"][0] == "O"
    assert {"B-PER", "S-LOC", "E-ORG", "I-MISC"} <= set(prepared.state["tags"])
    assert prepared.info["train data"].startswith("64 sentences")
    model = TASK.build_model(config, prepared)
    model.compile(optimizer="adam", **TASK.compile_args(config, prepared))
    history = model.fit(prepared.train, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
