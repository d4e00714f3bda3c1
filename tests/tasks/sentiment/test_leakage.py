"""Issue #27's leakage check on real data: SST-2 sentences (from Rotten Tomatoes, as MR's) given to an MR run.

Only prepare runs (the refusal comes before any language model trains), so it takes seconds."""
import csv

import pytest

from common import lifecycle
from common.data.leakage import normalise
from common.errors import DataError
from tasks.sentiment import TASK
from tasks.sentiment import dataset as sentiment_dataset
from tasks.sentiment.pretraining import with_pretrained_encoder
from tests.conftest import REPO


def test_an_mr_run_refuses_sst2_text_that_holds_its_evaluation_sentences(shared_data, tmp_path, monkeypatch):
    if not (shared_data / "sst2" / "dev.tsv").exists() or not (shared_data / "rt-polarity").is_dir():
        pytest.skip("sst2/ or rt-polarity/ not in the benchmark datasets")
    monkeypatch.setenv("RNNSUITE_DATA", str(shared_data))
    config = lifecycle.load_config(TASK, REPO / "configs" / "sentiment_rt_polarity_pretrained.yaml", [
        "model.pretraining.extra_text=[sst2/dev.tsv]", "model.pretraining.text_column=sentence",
        f"model.pretraining.run_dir={tmp_path / 'lm'}", "train.verbose=none"])
    prepared = sentiment_dataset.prepare(config)  # the labelled part of TASK.prepare
    with pytest.raises(DataError) as error:
        with_pretrained_encoder(config, prepared, state_given=False)
    message = str(error.value)

    evaluation = {normalise(t) for split in ("val", "test") for t in prepared.texts[split]}
    with open(shared_data / "sst2" / "dev.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    leaked = [line for line, (sentence, _) in enumerate(rows, start=2) if normalise(sentence) in evaluation]
    assert len(leaked) > 50  # about a fifth of SST-2 dev's 680 MR sentences fall in MR's val + test
    assert message.startswith(f"{shared_data / 'sst2' / 'dev.tsv'}: {len(leaked)} line(s) of "
                              "model.pretraining.extra_text are texts of the run's")
    assert f"(e.g. line {leaked[0]};" in message and "remove those lines" in message
    assert not (tmp_path / "lm").exists()  # nothing trained
