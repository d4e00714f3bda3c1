"""Reading language-model runs: a folder that is not one, a run of the wrong direction."""
import pytest

from common.errors import DataError
from common.layers.recurrent import RNNConfig
from common.pretrained.encoder import load_encoder
from common.pretrained.runs import read_language_model
from tests.common.pretrained.helpers import Options
from tests.tasks.language_model.helpers import lm_run


def test_a_backward_lm_is_refused_as_the_forward_one(tmp_path):
    lm_run(tmp_path / "lm", direction="backward")
    with pytest.raises(DataError, match="pretrained_encoder_backward"):
        load_encoder(Options(), [""], 6, RNNConfig(units=5, layers=2), tmp_path / "lm")


def test_a_folder_that_is_no_lm_run_is_named(tmp_path):
    with pytest.raises(DataError, match="model.pretrained_encoder.*not a finished language-model run"):
        read_language_model(tmp_path, "model.pretrained_encoder")
