"""The ner task: `python -m tasks.ner --help`."""
from tasks.ner.task import TASK

__all__ = ["TASK"]
