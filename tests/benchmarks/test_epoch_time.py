"""The end-to-end training-time benchmark: which key it sets, what it runs, how it summarises."""
import pytest

from benchmarks.epoch_time import CONFIGS, config_task, summary, train_command


def test_translation_switches_its_encoder_key_and_every_other_task_its_rnn_key():
    assert "model.encoder.implementation=keras" in train_command("c.yaml", "translation", "keras", 1, "r")
    assert "model.rnn.implementation=auto" in train_command("c.yaml", "ner", "auto", 1, "r")


def test_only_the_epochs_and_tensorboard_change_besides_the_implementation():
    command = train_command("configs/x.yaml", "sentiment", "keras", 2, "/tmp/run")
    assert command[1:] == ["-m", "tasks.sentiment", "train", "--config", "configs/x.yaml", "--run-dir", "/tmp/run",
                           "--set", "model.rnn.implementation=keras", "--set", "train.epochs=2",
                           "--set", "train.tensorboard=false"]


@pytest.mark.parametrize("config", CONFIGS)
def test_the_default_configs_exist_and_name_their_task(config):
    assert config_task(config) in {"sentiment", "ner", "forecasting", "translation", "language_model"}


def test_a_config_without_a_task_stops_with_its_path(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\n")
    with pytest.raises(SystemExit, match="c.yaml: the config has no 'task:' key"):
        config_task(str(path))


def test_speed_up_is_keras_time_over_auto_time_per_round():
    result = summary({"auto": [10.0, 20.0], "keras": [15.0, 20.0]})
    assert result["speed-up"] == pytest.approx(1.25)
    assert result["range"] == "1.00-1.50"
    assert (result["auto s"], result["keras s"]) == (15.0, 17.5)


def test_candidates_take_turns_each_round_into_their_own_folders():
    from benchmarks.epoch_time import in_turns

    seen = []

    def run_one(config, task, name, run_dir):
        seen.append((config, name, run_dir.rsplit("/", 1)[-1]))
        return len(seen)

    results = in_turns({"a.yaml": "sentiment", "b.yaml": "ner"}, ("auto", "keras"), 3, "t_", run_one)
    assert [(c, n) for c, n, _ in seen] == [("a.yaml", "auto"), ("a.yaml", "keras"), ("a.yaml", "keras"),
                                            ("a.yaml", "auto"), ("a.yaml", "auto"), ("a.yaml", "keras")] + [
        ("b.yaml", "auto"), ("b.yaml", "keras"), ("b.yaml", "keras"), ("b.yaml", "auto"), ("b.yaml", "auto"),
        ("b.yaml", "keras")]
    assert len({folder for _, _, folder in seen}) == 12
    assert results == {"a.yaml": {"auto": [1, 4, 5], "keras": [2, 3, 6]},
                       "b.yaml": {"auto": [7, 10, 11], "keras": [8, 9, 12]}}
