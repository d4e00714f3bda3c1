"""Translation task: data reading and its policies, in-graph tokenization, end to end through the export."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common import lifecycle
from common.errors import ConfigError, DataError
from tasks.translation.task import (
    END_ID,
    TASK,
    VocabularyIndex,
    build_vocabulary,
    detokenize,
    python_tokens,
    tokenize,
)
from tests.conftest import REPO

TINY = {"train.epochs": 1, "train.tensorboard": False, "train.verbose": "none", "model.embedding_dim": 8,
        "model.encoder.units": 8, "model.decoder_units": 16, "model.attention_units": 8,
        "model.attention_plots": 1, "model.max_output_length": 8, "model.eval_greedy": False}


def config_for(**values):
    overrides = [f"{k}={v}" for k, v in {**TINY, **values}.items()]
    return lifecycle.load_config(TASK, TASK.demo_config_path, overrides)


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- tokenization -----------------------------------------------------------------------------
def test_tokenize_lowercases_unicode_and_splits_punctuation():
    tokens = python_tokens(["Größe: Ein Mädchen's T-Shirt, (rot)!"], lowercase=True)
    assert tokens == [["größe", ":", "ein", "mädchen", "'", "s", "t", "-", "shirt", ",", "(", "rot", ")", "!"]]


def test_detokenize_reattaches_punctuation():
    tokens = tf.ragged.constant([["ein", "mädchen", "'", "s", "t", "-", "shirt", ",", "(", "rot", ")", "!"]])
    assert detokenize(tokens).numpy()[0].decode() == "ein mädchen's t-shirt, (rot)!"


def test_vocabulary_is_frequency_ordered_with_reserved_ids_and_min_freq():
    vocab = build_vocabulary([["b", "a", "b"], ["c", "a", "b"]], max_size=0, min_freq=2)
    assert vocab == ["", "[UNK]", "[START]", "[END]", "b", "a"]
    assert build_vocabulary([["b", "a", "b"]], max_size=1, min_freq=1)[4:] == ["b"]


def test_in_graph_vocabulary_index_matches_the_python_vocabulary():
    vocab = build_vocabulary([["der", "hund", "läuft", "."]], 0, 1)
    ids = VocabularyIndex(vocab)(tokenize(["Der Hund schläft ."]))
    assert ids.to_list() == [[vocab.index("der"), vocab.index("hund"), 1, vocab.index(".")]]  # 1 = [UNK]


# ---- reading data -----------------------------------------------------------------------------
def test_tsv_without_a_tab_names_file_line_and_fix(tmp_path):
    path = write(tmp_path / "pairs.tsv", "Hello.\tHallo.\nno tab here\n")
    with pytest.raises(DataError, match=r"pairs.tsv:2: 1 tab-separated field\(s\), need at least 2"):
        TASK.prepare(config_for(**{"data.path": path}))


def test_aligned_files_with_different_line_counts_are_an_error(tmp_path):
    for lang, text in (("de", "a\nb\nc\n"), ("en", "a\nb\n")):
        write(tmp_path / f"train.{lang}", text)
    pattern = str(tmp_path / "train.{lang}")
    with pytest.raises(DataError, match=r"train.de has 3 lines but .*train.en has 2"):
        TASK.prepare(config_for(**{"data.path": pattern, "data.format": "auto"}))


def test_pairs_with_an_empty_side_are_dropped_and_counted(tmp_path, capsys):
    rows = "".join(f"the dog {i} .\tder hund {i} .\n" for i in range(40)) + "only source\t\n"
    prepared = TASK.prepare(config_for(**{"data.path": write(tmp_path / "p.tsv", rows)}))
    assert "pairs with an empty side: {'all': 1}" in prepared.info["dropped"]
    assert "dropped sentence pairs with an empty side" in capsys.readouterr().err


def test_long_training_pairs_are_dropped_but_test_pairs_kept(tmp_path):
    rows = "".join(f"a b {i}\tx y {i}\n" for i in range(30)) + "long " * 40 + "\tlang\n"
    config = config_for(**{"data.path": write(tmp_path / "p.tsv", rows), "data.max_length": 10,
                           "data.val": write(tmp_path / "v.tsv", "a b\tx y\n"),
                           "data.test": write(tmp_path / "t.tsv", "long " * 40 + "\tlang\n")})
    prepared = TASK.prepare(config)
    assert prepared.info["dropped"].startswith("1 training pairs longer than 10 tokens")
    assert len(prepared.extra["pairs"]["test"]) == 1
    assert prepared.extra["ids"]["test"][0][0][-1] == END_ID and len(prepared.extra["ids"]["test"][0][0]) == 10


def test_parallel_format_needs_the_lang_placeholder():
    with pytest.raises(ConfigError, match=r"'data.path': format parallel needs \{lang\}"):
        config_for(**{"data.path": "train.txt", "data.format": "parallel"})


def test_same_source_and_target_column_is_rejected():
    with pytest.raises(ConfigError, match="source_column and data.target_column are both 0"):
        config_for(**{"data.target_column": 0})


def test_unknown_attention_type_lists_the_choices():
    with pytest.raises(ConfigError, match="choose one of bahdanau, luong_dot, luong_general"):
        config_for(**{"model.attention": "cosine"})


def test_the_demo_config_ships_a_search_space_with_the_attention_type():
    config = lifecycle.load_config(TASK, TASK.demo_config_path)
    assert "model.attention" in config.tuner.search_space
    multi30k = lifecycle.load_config(TASK, REPO / "configs" / "translation_multi30k.yaml")
    assert "model.attention" in multi30k.tuner.search_space
    assert (multi30k.data.source_lang, multi30k.data.target_lang) == ("de", "en")


# ---- end to end (slow: the conformance test runs the same path on every default run) -------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translation")
    overrides = TASK.demo.make_data(folder / "data", seed=0)
    config = cfg.with_values(config_for(), {**overrides, "data.max_examples": 300})
    run, doc = lifecycle.train(TASK, config, folder / "run", log=lambda *_: None)
    return config, run, doc, folder


@pytest.mark.slow
def test_training_writes_translation_metrics_predictions_and_heatmaps(trained):
    _, run, doc, _ = trained
    for key in ("bleu", "chrf", "bleu_tokenized", "rouge1", "rouge2", "rougeL", "perplexity"):
        assert np.isfinite(doc["test"][key]), key
    assert "copy_source" in doc["baselines"]
    assert (run.path / "translations_test.tsv").read_text(encoding="utf-8").startswith("source\treference\t")
    assert (run.plots_dir / "attention_test_0.png").exists()
    assert "sacreBLEU" in run.report_path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_export_translates_raw_strings_in_a_process_with_only_tensorflow(trained, tmp_path):
    _, run, _, _ = trained
    sources = ["The old dog sees the red ball.", "", "Völlig unbekannte Wörter!"]
    script = textwrap.dedent(f"""
        import json, sys, tensorflow as tf
        loaded = tf.saved_model.load({str(run.export_dir)!r})
        out = {{}}
        for name in ("serving_default", "translate_greedy"):
            result = loaded.signatures[name](source=tf.constant({sources!r}))
            out[name] = [t.decode("utf-8") for t in result["translation"].numpy()]
        assert not [m for m in sys.modules if m.split(".")[0] in ("common", "tasks")]
        print(json.dumps(out))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    served = json.loads(result.stdout.strip().splitlines()[-1])
    run_, config, state, model = lifecycle.load_run(TASK, run.path)
    prepared = TASK.prepare(config, state)
    signatures = TASK.serving_functions(model, config, prepared)
    expected = signatures["serving_default"].fn(source=tf.constant(sources))["translation"].numpy()
    assert served["serving_default"] == [t.decode("utf-8") for t in expected]
    assert len(served["translate_greedy"]) == 3


@pytest.mark.slow
def test_predict_keeps_one_output_line_per_input_line(trained):
    config, run, _, folder = trained
    source = TASK.demo.predict_input(config, folder)
    out = folder / "translations.txt"
    summary = lifecycle.predict(TASK, run.path, source, out)
    lines = out.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == summary["sentences"] == 4
    assert lines[1] == "" and summary["blank lines"] == 1


# ---- real data ---------------------------------------------------------------------------------
MULTI30K = REPO / "configs" / "translation_multi30k.yaml"


def test_multi30k_reads_aligned_gzip_files_in_both_directions(shared_data, monkeypatch):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    overrides = ["data.max_examples=300"]
    de_en = TASK.prepare(lifecycle.load_config(TASK, MULTI30K, overrides))
    en_de = TASK.prepare(lifecycle.load_config(TASK, MULTI30K, overrides + ["data.source_lang=en",
                                                                            "data.target_lang=de"]))
    assert de_en.info["direction"] == "de -> en" and en_de.info["direction"] == "en -> de"
    assert de_en.extra["pairs"]["train"].sources == en_de.extra["pairs"]["train"].targets
    german = de_en.extra["pairs"]["train"].sources
    assert any(ch in "".join(german) for ch in "äöüß")  # decoded UTF-8 from the .gz files


@pytest.mark.slow
def test_multi30k_subset_trains_evaluates_and_exports(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    overrides = [f"{k}={v}" for k, v in TINY.items()] + ["data.max_examples=200", "model.beam_width=2"]
    config = lifecycle.load_config(TASK, MULTI30K, overrides)
    _, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert doc["test"]["sentences"] == 200 and np.isfinite(doc["test"]["perplexity"])
