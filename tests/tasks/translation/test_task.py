"""Translation task: the hooks end to end (train, export, predict) and on the real Multi30k files."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common import lifecycle
from tasks.translation import TASK
from tasks.translation.data import TranslationPrepared
from tests.conftest import REPO
from tests.tasks.translation.helpers import TINY, config_for, write


def test_prepare_returns_typed_splits_and_a_note_on_how_each_score_is_computed(tmp_path):
    rows = "".join(f"The dog {i} .\tDer Hund {i} .\n" for i in range(40))
    prepared = TASK.prepare(config_for(**{"data.path": write(tmp_path / "p.tsv", rows)}))
    assert isinstance(prepared, TranslationPrepared)
    sizes = {len(field["test"]) for field in (prepared.pairs, prepared.target_tokens, prepared.source_ids)}
    assert sizes == {len(prepared.pairs["test"])}
    assert list(prepared.info)[-1] == "metrics"
    assert "sacreBLEU" in prepared.info["metrics"] and "case:lc" in prepared.info["metrics"]
    assert "beam 4, length penalty 0.6" in prepared.info["metrics"]


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
    assert de_en.pairs["train"].sources == en_de.pairs["train"].targets
    german = de_en.pairs["train"].sources
    assert any(ch in "".join(german) for ch in "äöüß")  # decoded UTF-8 from the .gz files


@pytest.mark.slow
def test_multi30k_subset_trains_evaluates_and_exports(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    overrides = [f"{k}={v}" for k, v in TINY.items()] + ["data.max_examples=200", "model.beam_width=2"]
    config = lifecycle.load_config(TASK, MULTI30K, overrides)
    _, doc = lifecycle.train(TASK, config, tmp_path / "run", log=lambda *_: None)
    assert doc["test"]["sentences"] == 200 and np.isfinite(doc["test"]["perplexity"])
