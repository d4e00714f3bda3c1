"""A shared test harness for custom Keras layers (after keras-hub's ``run_layer_test``).

Every custom layer of the suite goes through the same checks, so a layer cannot
ship without them: its config survives a ``get_config`` / ``from_config`` round
trip and Keras' registered serialization; it produces the documented output
shapes; a model holding it saves to ``.keras`` and loads back with identical
outputs; and, where it takes part in masking, it passes on the documented mask.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _tree_map(fn, tree):
    if isinstance(tree, (list, tuple)):
        return type(tree)(_tree_map(fn, t) for t in tree)
    if isinstance(tree, dict):
        return {k: _tree_map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _flatten(tree):
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _flatten(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _flatten(tree[k])]
    return [tree]


def _numpy(tensor):
    return np.asarray(ops.convert_to_numpy(tensor))


def _symbolic(array, name):
    array = np.asarray(array)
    dtype = "string" if array.dtype.kind in "OUS" else str(array.dtype)
    return keras.Input(shape=array.shape[1:], dtype=dtype, name=name)


def run_layer_test(layer_cls, init_kwargs: dict, inputs, tmp_path, *, expected_output_shape=None,
                   call_kwargs: dict | None = None, input_mask=None, expected_mask=None,
                   atol: float = 1e-6):
    """Run the layer checks on ``layer_cls(**init_kwargs)`` called on ``inputs`` (arrays or a list).

    ``expected_output_shape``: the shape (or a list of shapes) the call returns.
    ``input_mask`` / ``expected_mask``: the mask passed in and the mask ``compute_mask`` must
    return (``expected_mask=None`` skips the masking check). Returns the eager outputs.
    """
    call_kwargs = dict(call_kwargs or {})
    layer = layer_cls(**init_kwargs)

    # get_config round trip, directly and through the registered name.
    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is layer_cls and restored.get_config() == config

    # Output shapes.
    if input_mask is not None:
        call_kwargs["mask"] = input_mask
    outputs = layer(inputs, **call_kwargs)
    if expected_output_shape is not None:
        shapes = [tuple(_numpy(o).shape) for o in _flatten(outputs)]
        expected = expected_output_shape if isinstance(expected_output_shape, list) else [expected_output_shape]
        assert shapes == [tuple(s) for s in expected], (shapes, expected)

    # Masking.
    if expected_mask is not None:
        mask = layer.compute_mask(inputs, input_mask)
        np.testing.assert_array_equal(_numpy(mask), np.asarray(expected_mask))

    # A model holding the layer saves and loads back with the same outputs.
    if input_mask is None:
        symbolic = (_tree_map(lambda a: _symbolic(a, None), inputs) if isinstance(inputs, (list, tuple))
                    else _symbolic(inputs, None))
        model = keras.Model(symbolic, layer_cls(**init_kwargs)(symbolic, **call_kwargs))
        path = tmp_path / f"{layer_cls.__name__}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, compile=False)
        for a, b in zip(_flatten(model(inputs)), _flatten(loaded(inputs))):
            np.testing.assert_allclose(_numpy(a), _numpy(b), atol=atol)
    return outputs


def serve_in_fresh_process(export_dir, inputs: dict, tmp_path, signature: str = "serving_default") -> dict:
    """Outputs of an exported signature called in a new Python process that imports only TensorFlow.

    This is how a deployment sees the SavedModel: if the graph needed any of this
    project's code (a custom op, a Python-side vocabulary), loading or calling it
    here fails, and the script also asserts that no project module got imported.
    String outputs come back as ``str`` arrays.
    """
    import os
    import subprocess
    import sys
    import textwrap

    np.savez(tmp_path / "inputs.npz", **{k: np.asarray(v) for k, v in inputs.items()})
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        fn = tf.saved_model.load({str(export_dir)!r}).signatures[{signature!r}]
        inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))
        out = {{k: v.numpy() for k, v in fn(**{{k: tf.constant(v) for k, v in inputs.items()}}).items()}}
        out = {{k: np.vectorize(lambda b: b.decode("utf-8"), otypes=[str])(v) if v.dtype == object else v
               for k, v in out.items()}}
        assert not [m for m in sys.modules if m.split(".")[0] in ("common", "tasks")]
        np.savez({str(tmp_path / 'outputs.npz')!r}, **out)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return dict(np.load(tmp_path / "outputs.npz"))


def assert_outputs_equal(actual: dict, expected: dict, rtol: float = 1e-4, atol: float = 1e-4) -> None:
    """Same output names; strings equal, numbers close (bytes and str compare as text)."""
    assert set(actual) == set(expected)
    for key, value in expected.items():
        value, got = np.asarray(value), np.asarray(actual[key])
        if value.dtype.kind in "SUO":
            decode = np.vectorize(lambda b: b.decode("utf-8") if isinstance(b, bytes) else str(b), otypes=[str])
            assert decode(got).tolist() == decode(value).tolist(), key
        else:
            np.testing.assert_allclose(got, value, rtol=rtol, atol=atol, err_msg=key)
