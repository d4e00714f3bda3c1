"""The ner task: `python -m tasks.ner --help`."""
from common.api import TaskAPI
from tasks.ner.task import TASK

train, load = TaskAPI(TASK).train, TaskAPI(TASK).load  # the Python API: run = train(config, data=...)

__all__ = ["TASK", "load", "train"]
