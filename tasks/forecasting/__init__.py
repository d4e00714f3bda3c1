"""The forecasting task: `python -m tasks.forecasting --help`."""
from tasks.forecasting.task import TASK

__all__ = ["TASK"]
