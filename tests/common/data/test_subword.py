"""SentencePiece vocabularies (common/data/subword.py): fitted on given text, the same ids in Python and in
the graph, byte fallback for characters never seen, one-line errors for sizes the text cannot hold."""
import sys

import pytest
import tensorflow as tf

from common.data.subword import (
    InGraphSentencePiece,
    SentencePiece,
    from_state,
    require_tensorflow_text,
    to_state,
    train_sentencepiece,
)
from common.errors import DataError, UserError

RESERVED = ("[PAD]", "[UNK]", "[START]", "[END]")
SUBJECTS = ["a man", "two women", "the dog", "a young girl", "an old worker", "three children"]
ACTIONS = ["is walking", "are playing football", "runs", "sits", "is painting a wall", "are laughing"]
PLACES = ["in the park", "on the street", "near the river", "at the market"]
TRAIN = [f"{s} {a} {p} ." for s in SUBJECTS for a in ACTIONS for p in PLACES]  # 144 sentences, no capitals
# Unseen in TRAIN: words, capitals, and characters outside it (ö, ł, ñ, 北, an emoji): byte fallback.
UNSEEN = ["Zoë and Łukasz walk near the Río Grande .", "a man sits in 北京 🙂", "the dog runs"]


def fit(algorithm="unigram", size=300, texts=TRAIN):
    return train_sentencepiece(texts, size, algorithm, reserved=RESERVED, where="train.txt",
                               key="data.vocab_size")


@pytest.fixture(scope="module")
def unigram():
    return fit()


def test_the_model_has_exactly_the_asked_pieces_with_the_reserved_ones_first(unigram):
    pieces = SentencePiece(unigram).pieces()
    assert len(pieces) == 300
    assert pieces[:4] == list(RESERVED)
    assert pieces[4:4 + 256] == [f"<0x{b:02X}>" for b in range(256)]


@pytest.mark.parametrize("algorithm", ["unigram", "bpe"])
def test_the_graph_gives_the_ids_of_the_sentencepiece_library(algorithm, unigram):
    proto = unigram if algorithm == "unigram" else fit("bpe")
    in_graph = InGraphSentencePiece(proto, "source")
    texts = TRAIN[:5] + UNSEEN
    graph_ids = tf.function(in_graph.tokenize)(tf.constant(texts)).to_list()
    assert graph_ids == SentencePiece(proto).encode(texts)


def test_unseen_words_and_characters_round_trip_without_the_unknown_piece(unigram):
    in_graph = InGraphSentencePiece(unigram, "target")
    ids = in_graph.tokenize(tf.constant(UNSEEN))
    assert 1 not in ids.flat_values.numpy().tolist()  # [UNK] has id 1
    back = [t.decode("utf-8") for t in in_graph.detokenize(ids).numpy()]
    assert back == UNSEEN
    assert SentencePiece(unigram).decode(ids.to_list()) == UNSEEN


def test_the_model_is_fitted_on_the_given_text_only(unigram):
    pieces = set(SentencePiece(unigram).pieces())
    assert "k" in pieces and "ë" not in pieces  # "k" (walking) is in TRAIN; "ë" only in UNSEEN
    assert fit(texts=TRAIN[:40], size=285) != fit(texts=TRAIN[40:80], size=285)


def test_a_model_survives_the_run_state_as_text(unigram):
    assert from_state(to_state(unigram)) == unigram
    assert isinstance(to_state(unigram), str)


def test_a_vocabulary_larger_than_the_text_yields_names_the_key_and_the_largest_size():
    with pytest.raises(DataError) as error:
        fit(size=5000)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("train.txt: data.vocab_size=5000 is more subword pieces")
    largest = int(message.split("at most ")[1].split(")")[0])
    assert 260 < largest < 5000
    assert len(SentencePiece(fit(size=largest)).pieces()) == largest


def test_a_vocabulary_too_small_for_bytes_and_characters_names_the_smallest_size():
    with pytest.raises(DataError) as error:
        fit(size=100)
    message = str(error.value)
    assert "\n" not in message and "data.vocab_size=100 is too small" in message
    smallest = int(message.rsplit("at least ", 1)[1])
    chars = len(set("".join(TRAIN)) - {" "}) + 1  # spaces become the piece "▁"
    assert smallest == 4 + 256 + chars


def test_empty_training_text_is_one_line():
    with pytest.raises(DataError, match="^train.txt: no training text"):
        fit(texts=["", "   "])


def test_a_missing_tensorflow_text_is_one_line_naming_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_text", None)  # what `import` finds when it is not installed
    with pytest.raises(UserError) as error:
        require_tensorflow_text()
    assert "pip install tensorflow-text==2.21.1" in str(error.value) and "\n" not in str(error.value)


def test_the_asset_is_the_model_file_named_after_the_module(unigram, tmp_path):
    in_graph = InGraphSentencePiece(unigram, "target")
    path = in_graph.asset().asset_path.numpy().decode()
    assert path.endswith("/target.model")
    with open(path, "rb") as f:
        assert f.read() == unigram


@pytest.mark.slow  # a SavedModel written and loaded in a new process: ~18 s on 2 shared cores
def test_two_models_in_one_savedmodel_keep_their_own_pieces_in_a_fresh_process(unigram, tmp_path):
    """Source and target tokenizers in one export: each must come back with its own model when loaded."""
    import json
    import os
    import subprocess

    other = fit(texts=[t.upper() for t in TRAIN], size=300)  # the same words in capitals: other pieces
    module = tf.Module()
    module.source = InGraphSentencePiece(unigram, "source")
    module.target = InGraphSentencePiece(other, "target")
    module.ids = tf.function(lambda texts: {"source": module.source.tokenize(texts).to_tensor(-1),
                                            "target": module.target.tokenize(texts).to_tensor(-1)},
                             input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures={"serving_default": module.ids})
    script = (f"import json, tensorflow as tf, tensorflow_text\n"
              f"out = tf.saved_model.load({str(tmp_path / 'saved')!r}).signatures['serving_default']("
              f"texts=tf.constant({UNSEEN!r}))\n"
              "print(json.dumps({k: [[i for i in row if i >= 0] for row in v.numpy().tolist()] "
              "for k, v in out.items()}))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["source"] == SentencePiece(unigram).encode(UNSEEN)
    assert served["target"] == SentencePiece(other).encode(UNSEEN)
    assert served["source"] != served["target"]
