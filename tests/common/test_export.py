"""Export helpers: the in-graph vocabulary lookup, and loading an export back (a damaged one is one line)."""
import pytest
import tensorflow as tf

from common.errors import UserError
from common.export import VocabularyIndex, load_serving

VOCAB = ["", "[UNK]", "[START]", "der", "hund", "."]


def test_tokens_map_to_their_vocabulary_positions_and_unknown_ones_to_unk():
    index = VocabularyIndex(VOCAB, "[UNK]", reserved=("", "[START]"))
    ids = index(tf.ragged.constant([["der", "hund", "schläft", "."], []]))
    assert ids.to_list() == [[3, 4, 1, 5], []]


def test_reserved_tokens_in_input_text_are_unknown():
    index = VocabularyIndex(VOCAB, "[UNK]", reserved=("", "[START]"))
    assert index(tf.ragged.constant([["[START]", ""]])).to_list() == [[1, 1]]


def test_a_vocabulary_of_only_reserved_tokens_maps_everything_to_unknown():
    index = VocabularyIndex(["", "<unk>"], "<unk>")
    assert index(tf.ragged.constant([["a", "b"]])).to_list() == [[1, 1]]


def test_the_unknown_token_must_be_in_the_vocabulary():
    with pytest.raises(ValueError):
        VocabularyIndex(["", "a"], "<unk>")


def _saved_model(folder):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.export(str(folder), verbose=False)
    return folder, model


@pytest.mark.parametrize("damage, words", [
    (lambda d: (d / "saved_model.pb").write_bytes(b"garbage"), "saved_model.pb is damaged"),
    (lambda d: __import__("shutil").rmtree(d / "variables"), "variables is incomplete"),
    (lambda d: (d / "variables" / "variables.data-00000-of-00001").write_bytes(b"x" * 8),
     "variables is damaged"),
])
def test_a_damaged_export_is_one_line_naming_the_file_and_export_as_the_fix(tmp_path, damage, words):
    export, _ = _saved_model(tmp_path / "run" / "export")
    damage(export)
    with pytest.raises(UserError, match=rf"{words} .*re-run `export --run-dir .*run`"):
        load_serving(export)


def test_an_intact_export_loads_and_serves_the_models_values(tmp_path):
    export, model = _saved_model(tmp_path / "run" / "export")
    serve = load_serving(export)
    (name,) = serve.structured_input_signature[1]
    x = tf.constant([[1.0, -2.0]])
    (out,) = serve(**{name: x}).values()
    assert out.numpy().tolist() == model(x).numpy().tolist()
