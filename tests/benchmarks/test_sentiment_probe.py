"""The linear probe of a sentiment encoder: pooling over real words only, and a run end to end."""
import json

import numpy as np

from benchmarks.sentiment_probe import main, pooled
from tasks.sentiment import TASK
from tests.tasks.sentiment.helpers import tiny_prepared


def test_pooling_reads_only_the_real_words(tmp_path):
    config, prepared = tiny_prepared(tmp_path)
    model = TASK.build_model(config, prepared)
    short, padded = pooled(model, "embedding", ["good film"]), pooled(model, "embedding", ["good film", "bad film 3"])
    np.testing.assert_allclose(padded[0], short[0], atol=1e-6)  # the longer text's padding changes nothing
    vectors = model.get_layer("embedding").embeddings.numpy()
    index = prepared.state["vocabulary"].index
    words = vectors[[index("good"), index("film")]]
    np.testing.assert_allclose(short[0], np.concatenate([words.max(0), words.mean(0)]), atol=1e-6)


def test_a_probe_fits_train_and_scores_test(tmp_path):
    config, _ = tiny_prepared(tmp_path)
    out = tmp_path / "probe.json"
    main(["--config", str(TASK.demo_config_path), "--set", f"data.path={config.data.path}", "--set",
          "model.rnn.units=8", "--set", "model.embedding_dim=8", "--c", "1", "--json", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert [row["features"].split()[0] for row in rows] == ["recurrent", "embedding"]
    assert all(0.0 <= row["test_accuracy"] <= 1.0 for row in rows)
