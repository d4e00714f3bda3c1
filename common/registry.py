"""Every task the suite ships, by name: the demo, the docs and the conformance test use this list."""
from __future__ import annotations

import importlib

TASK_MODULES = {
    "forecasting": "tasks.forecasting",
    "ner": "tasks.ner",
    "translation": "tasks.translation",
    "sentiment": "tasks.sentiment",
    "language_model": "tasks.language_model",
}


def get_task(name: str):
    return importlib.import_module(TASK_MODULES[name]).TASK

