"""The forecasting task: `python -m tasks.forecasting --help`."""
from common.api import TaskAPI
from tasks.forecasting.task import TASK

train, load = TaskAPI(TASK).train, TaskAPI(TASK).load  # the Python API: run = train(config, data=...)

__all__ = ["TASK", "load", "train"]
