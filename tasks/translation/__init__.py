"""The translation task: `python -m tasks.translation --help`."""
from common.api import TaskAPI
from tasks.translation.task import TASK

train, load = TaskAPI(TASK).train, TaskAPI(TASK).load  # the Python API: run = train(config, data=...)

__all__ = ["TASK", "load", "train"]
