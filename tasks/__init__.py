"""Task modules: ``python -m tasks.<task> train|evaluate|tune|export|predict --config FILE``."""
import common  # noqa: F401  (silences TensorFlow before any task imports it)
