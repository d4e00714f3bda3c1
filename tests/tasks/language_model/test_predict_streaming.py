"""predict over prompts read in chunks: the rows of the in-memory path, and nothing written on a bad line."""
import json

import pytest
import tensorflow as tf

from common import config as cfg
from common.data import text
from common.errors import DataError
from tasks.language_model import export
from tests.tasks.language_model.helpers import WORDS, config_for, write

PROMPTS = [f"the cat {i}" if i % 11 else "" for i in range(150)]


class Serve:
    """A stand-in SavedModel continuing each prompt alone; it records the batches it saw."""

    def __init__(self):
        self.batches = []

    def __call__(self, prompt):
        prompts = [p.decode() for p in prompt.numpy()]
        self.batches.append(prompts)
        return {"text": tf.constant([f"{p} sat .".encode() for p in prompts])}


def test_a_multi_chunk_input_generates_as_the_in_memory_path_did(tmp_path, monkeypatch):
    monkeypatch.setattr(text, "CHUNK_BYTES", 64)
    source = write(tmp_path, "prompts.txt", "".join(f"{p}\n" for p in PROMPTS))
    serve = Serve()
    out = tmp_path / "out.jsonl"
    summary = export.predict_file(serve, config_for(source), {"vocabulary": []}, source, out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"prompt": p, "text": f"{p} sat ."} for p in PROMPTS]
    batch = export.PREDICT_BATCH
    assert serve.batches == [PROMPTS[start:start + batch] for start in range(0, len(PROMPTS), batch)]
    assert summary["prompts"] == 150


def test_an_unknown_character_late_in_the_prompts_is_named_and_leaves_no_output(tmp_path):
    config = cfg.with_values(config_for(write(tmp_path, "c.txt", WORDS)), {"data.granularity": "char"})
    source = write(tmp_path, "prompts.txt", "the cat\n" * 100 + "ça\n")
    with pytest.raises(DataError, match=r"prompts.txt:101: characters the model never saw in training: 'ç'"):
        export.predict_file(Serve(), config, {"vocabulary": list("the ca")}, source,
                            tmp_path / "o" / "out.jsonl")
    assert not (tmp_path / "o" / "out.jsonl").exists()
