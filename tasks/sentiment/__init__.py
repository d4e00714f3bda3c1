"""The sentiment task: `python -m tasks.sentiment --help`."""
from tasks.sentiment.task import TASK

__all__ = ["TASK"]
