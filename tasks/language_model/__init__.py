"""The language-model task: `python -m tasks.language_model --help`."""
from common.api import TaskAPI
from tasks.language_model.task import TASK

train, load = TaskAPI(TASK).train, TaskAPI(TASK).load  # the Python API: run = train(config, data=...)

__all__ = ["TASK", "load", "train"]
