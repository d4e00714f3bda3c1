"""The language-model task: `python -m tasks.language_model --help`."""
from tasks.language_model.task import TASK

__all__ = ["TASK"]
