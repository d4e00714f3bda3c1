"""Encoders from language-model runs: vocabulary mapping, weight copying, shape checks, fine-tuning schedule."""
import gzip

import keras
import numpy as np
import pytest

from common import lifecycle
from common.errors import ConfigError, DataError
from common.io import read_json
from common.layers.recurrent import RecurrentBlock, RNNConfig
from common.pretrained import (
    FineTuneSchedule,
    assign_encoder,
    fine_tune_callbacks,
    language_model_features,
    load_encoder,
    map_vocabulary,
    pretrain,
    read_language_model,
    read_unlabelled,
    with_pretraining_folder,
)
from tasks.language_model import TASK as LM_TASK
from tests.tasks.language_model.helpers import LM_WORDS, lm_run
from tests.tasks.sentiment.helpers import load as load_sentiment


class Options:
    pretrained_encoder_backward = None
    fine_tune, lr_factor, warmup_epochs, pretrained_as = "gradual", 2.6, 1.0, "init"


class FeatureOptions(Options):
    fine_tune, lr_factor, warmup_epochs, pretrained_as = "all", 1.0, 0.0, "features"


def test_vocabulary_mapping_counts_shared_new_and_unused_words():
    rows, counts = map_vocabulary(["", "[UNK]", "the", "film", "awful"], LM_WORDS)
    assert rows.tolist() == [0, 1, 3, 4, -1]
    assert counts == {"shared": 2, "new": 1, "unused": 3}  # was, good, plot; <eos> is not a word


def test_new_words_start_from_the_mean_lm_vector(tmp_path):
    lm = read_language_model(lm_run(tmp_path / "lm"), "model.pretrained_encoder")
    encoder = load_encoder(Options(), ["", "[UNK]", "film", "awful"], 6, RNNConfig(units=5, layers=2),
                           tmp_path / "lm")
    np.testing.assert_allclose(encoder.embeddings[2], lm.embeddings[4])
    np.testing.assert_allclose(encoder.embeddings[3], lm.embeddings[1:].mean(axis=0), rtol=1e-6)
    assert encoder.summary["vocabulary"] == {"shared": 1, "new": 1, "unused": 4}
    assert "test perplexity 42" in encoder.summary["info"]["pretrained encoder"]


def _encoder_layers(rnn: RNNConfig, input_dim=6):
    embedding = keras.layers.Embedding(4, 6, name="embedding")
    block = RecurrentBlock(name="recurrent", **rnn.block_kwargs())
    x = keras.Input((None,), dtype="int32")
    h = block(keras.layers.Concatenate()([embedding(x), keras.layers.Dense(input_dim - 6)(embedding(x))])
              if input_dim > 6 else embedding(x))
    return keras.Model(x, keras.layers.Dense(2)(h)), embedding, block


def test_a_unidirectional_encoder_gets_the_forward_lm_weights(tmp_path):
    rnn = RNNConfig(units=5, layers=2)
    encoder = load_encoder(Options(), ["", "[UNK]", "film", "plot"], 6, rnn, lm_run(tmp_path / "lm"))
    _, embedding, block = _encoder_layers(rnn)
    assign_encoder(embedding, block, encoder)
    for layer, weights in zip(block.rnns, encoder.forward.cells):
        for got, want in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(got, want)


def test_a_bidirectional_encoder_takes_each_direction_from_its_lm(tmp_path):
    lm_run(tmp_path / "both" / "forward")
    lm_run(tmp_path / "both" / "backward", direction="backward")
    rnn = RNNConfig(units=5, layers=2, bidirectional=True)
    encoder = load_encoder(Options(), ["", "[UNK]", "film", "plot"], 6, rnn, tmp_path / "both")
    _, embedding, block = _encoder_layers(rnn, input_dim=9)  # 3 extra task features, as ner's characters
    assign_encoder(embedding, block, encoder)
    first, second = block.rnns
    np.testing.assert_array_equal(first.forward_layer.get_weights()[0][:6], encoder.forward.cells[0][0])
    np.testing.assert_array_equal(first.backward_layer.get_weights()[1], encoder.backward.cells[0][1])
    assert np.any(first.forward_layer.get_weights()[0][6:])  # the task's own feature rows are kept
    kernel = second.backward_layer.get_weights()[0]  # reads [forward outputs, backward outputs]
    np.testing.assert_array_equal(kernel[5:], encoder.backward.cells[1][0])
    assert not np.any(kernel[:5])  # as the backward LM: it never saw the forward direction


def test_a_shape_mismatch_is_one_error_naming_the_keys(tmp_path):
    lm_run(tmp_path / "lm")
    with pytest.raises(ConfigError, match=r"model.embedding_dim: 6 \(is 8\).*model.rnn.units: 5 \(is 7\)"):
        load_encoder(Options(), [""], 8, RNNConfig(units=7, layers=2), tmp_path / "lm")


def test_a_backward_lm_is_refused_as_the_forward_one(tmp_path):
    lm_run(tmp_path / "lm", direction="backward")
    with pytest.raises(DataError, match="pretrained_encoder_backward"):
        load_encoder(Options(), [""], 6, RNNConfig(units=5, layers=2), tmp_path / "lm")


def test_a_folder_that_is_no_lm_run_is_named(tmp_path):
    with pytest.raises(DataError, match="model.pretrained_encoder.*not a finished language-model run"):
        read_language_model(tmp_path, "model.pretrained_encoder")


def test_gradual_unfreezing_trains_one_more_layer_from_the_top_each_epoch():
    schedule = FineTuneSchedule([[], [], []], "gradual", 2.0, 0)
    assert schedule.group_multipliers(0).tolist() == [1, 0, 0, 0]
    assert schedule.group_multipliers(1).tolist() == [1, 0, 0, 0.5]
    assert schedule.group_multipliers(5).tolist() == [1, 0.125, 0.25, 0.5]
    assert FineTuneSchedule([[], []], "frozen", 2.0, 0).group_multipliers(5).tolist() == [1, 0, 0]


def test_the_freezing_schedule_changes_which_weights_move():
    keras.utils.set_random_seed(0)
    model, embedding, block = _encoder_layers(RNNConfig(units=4, layers=2))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    options = Options()
    options.warmup_epochs = 0.5
    x, y = np.random.randint(1, 4, (16, 5)), np.random.rand(16, 2)
    snapshots = [[w.numpy().copy() for w in model.weights]]

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([w.numpy().copy() for w in model.weights])

    model.fit(x, y, epochs=3, batch_size=8, verbose=0,
              callbacks=fine_tune_callbacks(options, embedding, block) + [Snapshot()])
    paths = [w.path for w in model.weights]

    def moved(epoch, prefix):
        return any(not np.array_equal(before, after) for before, after, path in
                   zip(snapshots[epoch], snapshots[epoch + 1], paths) if path.startswith(prefix))

    head = [w.path for w in model.layers[-1].weights][0].split("/")[0]
    assert moved(0, head) and not moved(0, "recurrent") and not moved(0, "embedding")
    assert moved(1, "recurrent/lstm_1") and not moved(1, "recurrent/lstm_0") and not moved(1, "embedding")
    assert moved(2, "recurrent/lstm_0") and not moved(2, "embedding")


def test_the_recipe_keeps_its_language_models_in_the_run_folder(tmp_path):
    config = load_sentiment({"model.pretraining.enabled": True})
    assert with_pretraining_folder(config, tmp_path / "run").model.pretraining.run_dir == str(
        tmp_path / "run" / "pretrained_lm")


def test_a_given_pretraining_folder_or_no_recipe_leaves_the_config_alone(tmp_path):
    given = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.run_dir": "lms"})
    assert with_pretraining_folder(given, tmp_path).model.pretraining.run_dir == "lms"
    off = load_sentiment()
    assert with_pretraining_folder(off, tmp_path) is off


def test_a_second_stage_needs_extra_text():
    with pytest.raises(ConfigError, match="model.pretraining.in_domain_epochs"):
        load_sentiment({"model.pretraining.enabled": True, "model.pretraining.in_domain_epochs": 1})


def test_the_second_stage_starts_from_the_first_and_reads_the_training_texts_alone(tmp_path):
    extra = tmp_path / "general.txt"
    extra.write_text("a general sentence about zebras\n" * 30, encoding="utf-8")  # the end is the LM's val split
    config = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.extra_text": f"[{extra}]",
                             "model.pretraining.epochs": 1, "model.pretraining.in_domain_epochs": 1,
                             "model.pretraining.run_dir": str(tmp_path / "lm"), "model.rnn.bidirectional": False,
                             "model.rnn.units": 4, "model.embedding_dim": 4, "train.verbose": "none"})
    folder = pretrain("sentiment", config, ["the film was good", "the plot was dull"], lambda texts: texts,
                      log=lambda *_: None)
    assert folder == tmp_path / "lm" / "in_domain"
    assert (folder / "corpus.txt").read_text(encoding="utf-8") == "the film was good\nthe plot was dull\n"
    second = lifecycle.load_config(LM_TASK, folder / "forward" / "config.yaml", saved_run=True)
    assert second.model.init_from == str((tmp_path / "lm" / "forward").resolve()) and second.train.epochs == 1
    vocabulary = read_json(folder / "forward" / "state.json")["vocabulary"]
    assert "zebras" in vocabulary  # the first stage's vocabulary, kept
    assert vocabulary == read_json(tmp_path / "lm" / "forward" / "state.json")["vocabulary"]


def test_the_recipe_trains_its_language_models_with_the_sampled_softmax(tmp_path):
    config = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.epochs": 1,
                             "model.pretraining.sampled_softmax": 2, "model.pretraining.run_dir": str(tmp_path),
                             "model.rnn.bidirectional": False, "model.rnn.units": 4, "model.embedding_dim": 4,
                             "train.verbose": "none"})
    pretrain("sentiment", config, ["the film was good", "the plot was dull"] * 20, lambda texts: texts,
             log=lambda *_: None)
    saved = lifecycle.load_config(LM_TASK, tmp_path / "forward" / "config.yaml", saved_run=True)
    assert saved.model.sampled_softmax == 2


# ---- the recipe's unlabelled text: formats, bad files, the leakage guard -------------------------------
def test_extra_text_reads_the_text_column_of_a_gzipped_csv_as_imdb_writes_it(tmp_path):
    rows = ["id,rating,label,text", '0_3,3,0,"Dull, <br /><br />and ""long"""', "",
            "1_9,9,1,A splendid film."]
    (tmp_path / "train.csv.gz").write_bytes(gzip.compress("\n".join(rows).encode("utf-8") + b"\n"))
    path, texts = read_unlabelled(str(tmp_path / "train.csv.gz"))
    assert path == tmp_path / "train.csv.gz"
    assert texts == [(2, 'Dull, <br /><br />and "long"'), (4, "A splendid film.")]


def test_extra_text_reads_the_text_column_key_of_json_lines_and_the_lines_of_a_plain_file(tmp_path):
    (tmp_path / "u.jsonl").write_text('{"review": "a splendid film", "id": 1}\n\n{"review": "dull"}\n',
                                      encoding="utf-8")
    assert read_unlabelled(str(tmp_path / "u.jsonl"), text_column="review")[1] == [(1, "a splendid film"),
                                                                                    (3, "dull")]
    (tmp_path / "u.txt").write_text("id,text\n\na splendid film  \n", encoding="utf-8")  # no header: lines
    assert read_unlabelled(str(tmp_path / "u.txt"))[1] == [(1, "id,text"), (3, "a splendid film")]


def test_extra_text_resolves_benchmark_paths_in_rnnsuite_data(tmp_path, monkeypatch):
    (tmp_path / "imdb").mkdir()
    (tmp_path / "imdb" / "u.tsv").write_text("text\tlabel\na splendid film\t1\n", encoding="utf-8")
    monkeypatch.setenv("RNNSUITE_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path / "imdb")
    assert read_unlabelled("imdb/u.tsv")[1] == [(2, "a splendid film")]


@pytest.mark.parametrize("name, content, words", [
    ("u.csv", b"id,review\n1,a splendid film\n",
     ["u.csv:1: no text column 'text'; the header has 'id', 'review'; set model.pretraining.text_column"]),
    ("u.jsonl", b'{"review": "a splendid film"}\n', ["u.jsonl:1: no text under the key 'text'",
                                                     "model.pretraining.text_column"]),
    ("u.txt", b" \n\n", ["u.txt is empty", "remove it from model.pretraining.extra_text"]),
    ("u.csv", b"text\n\n", ["u.csv holds no texts"]),
    ("u.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["u.txt is a binary file"]),
    ("u.txt", b"\x00" * 64, ["u.txt is a binary file"]),
    ("u.txt", "très bon\n".encode("cp1252"), ["u.txt:1: not valid utf-8", "model.pretraining.encoding"]),
])
def test_a_bad_extra_text_file_is_one_line_naming_it_and_the_fix(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError) as error:
        read_unlabelled(str(tmp_path / name))
    message = str(error.value)
    assert message.startswith("model.pretraining.extra_text: ") and "\n" not in message
    for word in words:
        assert word in message


def test_a_missing_extra_text_file_is_named_with_the_fix(tmp_path):
    with pytest.raises(DataError, match="model.pretraining.extra_text: data file not found: nowhere.txt; .*"
                                        "correct the path or remove it"):
        read_unlabelled("nowhere.txt")


def test_the_recipe_refuses_extra_text_holding_evaluation_texts_before_making_any_folder(tmp_path):
    extra = tmp_path / "general.txt"
    extra.write_text("a general sentence about zebras\nThe plot was DULL.\n", encoding="utf-8")
    config = load_sentiment({"model.pretraining.enabled": True, "model.pretraining.extra_text": f"[{extra}]",
                             "model.pretraining.run_dir": str(tmp_path / "lm")})
    with pytest.raises(DataError, match=r"general.txt: 1 line\(s\) .* test split \(e.g. line 2"):
        pretrain("sentiment", config, ["the film was good"], lambda texts: texts, log=lambda *_: None,
                 evaluation_texts={"val": ["a fine film"], "test": ["the plot was dull"]})
    assert not (tmp_path / "lm").exists()


# ---- ELMo / TagLM: the language models as frozen features ----------------------------------------------
def _feature_model(encoder, width=3):
    """ids -> [task embedding, LM features] -> a trainable head, as the tasks wire it."""
    ids = keras.Input((None,), dtype="int32")
    own = keras.layers.Embedding(len(encoder.embeddings), width, mask_zero=True, name="embedding")(ids)
    x = keras.layers.Concatenate()([own, language_model_features(ids, encoder, "auto")])
    return keras.Model(ids, keras.layers.Dense(2, name="head")(x))


def test_features_are_the_lm_states_in_each_direction(tmp_path):
    lm_run(tmp_path / "both" / "forward")
    lm_run(tmp_path / "both" / "backward", direction="backward")
    encoder = load_encoder(FeatureOptions(), ["", "[UNK]", "film", "plot"], 99, RNNConfig(units=50),
                           tmp_path / "both")  # any task encoder shape: the LMs are not copied into it
    ids = np.array([[2, 3, 3, 0]])  # "film plot plot" and padding
    model = _feature_model(encoder)
    states = keras.Model(model.input, model.get_layer("lm_recurrent").output)(ids).numpy()
    lm = keras.saving.load_model(str(tmp_path / "both" / "forward" / "model.keras"), compile=False)
    lm_states = lm.get_layer("recurrent")(lm.get_layer("embedding")(np.array([[4, 7, 7]]))).numpy()
    np.testing.assert_allclose(states[0, :3, :5], lm_states[0], atol=1e-5)
    backward = keras.saving.load_model(str(tmp_path / "both" / "backward" / "model.keras"), compile=False)
    reversed_states = backward.get_layer("recurrent")(backward.get_layer("embedding")(np.array([[7, 7, 4]])))
    np.testing.assert_allclose(states[0, :3, 5:], reversed_states.numpy()[0, ::-1], atol=1e-5)


def test_frozen_features_never_move_while_the_rest_trains(tmp_path):
    encoder = load_encoder(FeatureOptions(), ["", "[UNK]", "film", "plot"], 6, RNNConfig(),
                           lm_run(tmp_path / "lm"))
    model = _feature_model(encoder)
    assert not model.get_layer("lm_recurrent").trainable_weights
    assert not model.get_layer("lm_embedding").trainable_weights
    before = [w.numpy().copy() for w in model.weights]
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(np.array([[2, 3, 1]] * 8), np.random.rand(8, 3, 2), epochs=2, verbose=0)
    moved = {w.path.split("/")[0] for w, value in zip(model.weights, before) if not np.array_equal(value, w.numpy())}
    assert moved == {"embedding", "head"}


def test_a_frozen_lm_reads_new_words_as_its_unknown_word(tmp_path):
    lm = read_language_model(lm_run(tmp_path / "lm"), "model.pretrained_encoder")
    encoder = load_encoder(FeatureOptions(), ["", "[UNK]", "film", "awful"], 6, RNNConfig(), tmp_path / "lm")
    np.testing.assert_array_equal(encoder.embeddings[3], lm.embeddings[1])  # <unk>
    assert "read as the LM's <unk>" in encoder.summary["info"]["pretrained vocabulary"]


def test_features_take_no_fine_tuning_schedule():
    with pytest.raises(ConfigError, match="model.pretrained_as: features"):
        load_sentiment({"model.pretrained_encoder": "lm", "model.pretrained_as": "features",
                        "model.fine_tune": "gradual"})
    options = load_sentiment({"model.pretrained_as": "features"}).model
    assert fine_tune_callbacks(options, None, None) == []
