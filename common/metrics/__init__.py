"""Evaluation metrics, one module per kind of task (library-backed where a library exists)."""
