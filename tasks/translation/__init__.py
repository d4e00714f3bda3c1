"""The translation task: `python -m tasks.translation --help`."""
from tasks.translation.task import TASK

__all__ = ["TASK"]
