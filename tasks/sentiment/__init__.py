"""The sentiment task: `python -m tasks.sentiment --help`."""
from common.api import TaskAPI
from tasks.sentiment.task import TASK

train, load = TaskAPI(TASK).train, TaskAPI(TASK).load  # the Python API: run = train(config, data=...)

__all__ = ["TASK", "load", "train"]
