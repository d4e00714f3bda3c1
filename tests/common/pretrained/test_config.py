"""The pretraining keys of a task's model config."""
import pytest

from common.errors import ConfigError
from tests.tasks.sentiment.helpers import load as load_sentiment


def test_a_second_stage_needs_extra_text():
    with pytest.raises(ConfigError, match="model.pretraining.in_domain_epochs"):
        load_sentiment({"model.pretraining.enabled": True, "model.pretraining.in_domain_epochs": 1})
