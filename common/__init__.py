"""Shared framework of rnnsuite: config, lifecycle, layers, metrics, export.

Importing this package silences TensorFlow's C++ and Python log noise before
TensorFlow itself is imported anywhere, so every CLI stays quiet.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _import_tensorflow_quietly():
    """Import TensorFlow with stderr closed: its C++ start-up lines ignore the log level."""
    import logging
    import sys
    import warnings

    if "tensorflow" not in sys.modules:
        saved = _os.dup(2)
        devnull = _os.open(_os.devnull, _os.O_WRONLY)
        try:
            sys.stderr.flush()
            _os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            _os.dup2(saved, 2)
            _os.close(saved)
            _os.close(devnull)
    import tensorflow as tf

    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        tf.autograph.set_verbosity(0)
    except Exception:  # noqa: BLE001 - autograph verbosity is best effort
        pass


_import_tensorflow_quietly()
