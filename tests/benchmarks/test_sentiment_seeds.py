"""The seeds benchmark: one row per run with each path and baseline, mean ± sd per config, finished runs reused."""
import json

import pytest

from benchmarks.sentiment_seeds import main, row, summary


def metrics(model, recurrent, ngrams, nbsvm):
    return {"test": {"accuracy": model, "paths": {"recurrent": {"accuracy": recurrent},
                                                  "ngrams": {"accuracy": ngrams}}},
            "baselines": {"nbsvm": {"accuracy": nbsvm}}, "training": {"train_seconds": 60.0}}


def test_a_row_holds_the_model_each_path_alone_and_the_baselines_in_percent():
    assert row("imdb", 1, metrics(0.92, 0.88, 0.915, 0.914)) == pytest.approx(
        {"config": "imdb", "seed": 1, "model": 92.0, "recurrent alone": 88.0, "ngrams alone": 91.5,
         "nbsvm": 91.4, "train_seconds": 60.0})


def test_the_summary_is_the_mean_and_sample_sd_per_config():
    rows = [row("mr", s, metrics(a, 0.7, 0.7, 0.7)) for s, a in ((42, 0.80), (1, 0.82), (2, 0.84))]
    [entry] = summary(rows)
    assert entry["seeds"] == "42 1 2" and entry["model"] == "82.00 ± 2.00" and entry["nbsvm"] == "70.00 ± 0.00"


def test_finished_runs_are_read_not_retrained(tmp_path):
    from common import lifecycle
    from tasks.sentiment import TASK
    from tests.tasks.sentiment.helpers import TINY, tiny_prepared

    config, _ = tiny_prepared(tmp_path)
    sets = [f"data.path={config.data.path}", *(f"{k}={v}" for k, v in TINY.items())]
    args = [str(TASK.demo_config_path), "--seeds", "3", "--runs", str(tmp_path / "runs"), "--json",
            str(tmp_path / "out.json")] + [a for s in sets for a in ("--set", s)]
    main(args)
    model = tmp_path / "runs" / f"{config.name}_s3" / "model.keras"
    stamp = model.stat().st_mtime_ns
    main(args)
    assert model.stat().st_mtime_ns == stamp
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [r["seed"] for r in doc["rows"]] == [3] and doc["summary"][0]["seeds"] == "3"
    assert lifecycle.load_config(TASK, tmp_path / "runs" / f"{config.name}_s3" / "config.yaml",
                                 saved_run=True).seed == 3
