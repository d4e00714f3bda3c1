"""A shared test harness for custom Keras layers (after keras-hub's ``run_layer_test``).

Every custom layer of the suite goes through the same checks, so a layer cannot
ship without them (tests/test_layer_coverage.py enforces one test per registered
layer of common/layers and of every task package):

* it is registered under the "rnnsuite" package, so a saved model finds it again
  whatever module the class lives in;
* its config holds every constructor argument, is JSON-able and survives a
  ``get_config`` / ``from_config`` round trip and Keras' registered serialization;
* it produces the documented output shapes, eagerly and symbolically (a functional
  model whose inputs have unknown lengths, as the tasks build them);
* where it takes part in masking, ``compute_mask`` returns the documented mask and
  the eager outputs carry it (which needs ``supports_masking``);
* a model holding it gives the eager outputs, saves to ``.keras`` and loads back
  with the same config and the same outputs.
"""
from __future__ import annotations

import inspect
import json

import keras
import numpy as np
from keras import ops
from keras.src.backend import get_keras_mask  # the mask Keras attaches to a layer's outputs

# ``expected_mask=NO_MASK``: the layer passes on no mask (``compute_mask`` gives None, or None per output).
NO_MASK = "no mask"


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


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _symbolize(tree, prefix, feeds):
    """Replace every array of ``tree`` by a named ``keras.Input``; record name -> array in ``feeds``.

    Lengths are unknown (``None``) as in the tasks' models; only the feature width of a
    floating-point input stays fixed, because weights are built from it.
    """
    if isinstance(tree, (list, tuple)):
        return type(tree)(_symbolize(t, f"{prefix}_{i}", feeds) for i, t in enumerate(tree))
    if isinstance(tree, dict):
        return {k: _symbolize(v, f"{prefix}_{k}", feeds) for k, v in tree.items()}
    if not _is_array(tree):
        return tree  # a plain Python argument (a flag, a size): a constant of the model
    array = np.asarray(tree)
    dtype = "string" if array.dtype.kind in "OUS" else str(array.dtype)
    shape = [None] * (array.ndim - 1)
    if array.dtype.kind == "f" and shape:
        shape[-1] = array.shape[-1]
    feeds[prefix] = array
    return keras.Input(shape=tuple(shape), dtype=dtype, name=prefix)


def _assert_masks(actual, expected, where):
    if expected is NO_MASK:
        assert all(m is None for m in _flatten(actual)), f"{where}: expected no mask, got {actual}"
        return
    actual, expected = _flatten(actual), _flatten(expected)
    assert len(actual) == len(expected), f"{where}: {len(actual)} masks, expected {len(expected)}"
    for got, want in zip(actual, expected):
        if want is None:
            assert got is None, f"{where}: expected no mask on this output, got {got}"
        else:
            assert got is not None, f"{where}: expected a mask, got none"
            np.testing.assert_array_equal(_numpy(got), np.asarray(want), err_msg=where)


def run_layer_test(layer_cls, init_kwargs: dict, inputs, tmp_path, *, expected_output_shape=None,
                   call_kwargs: dict | None = None, input_mask=None, expected_mask=None,
                   atol: float = 1e-6):
    """Run the layer checks on ``layer_cls(**init_kwargs)`` called as ``layer(inputs, **call_kwargs)``.

    ``inputs``: an array, or a list of arrays for a layer that takes a list. Arrays among
    ``call_kwargs`` (nested lists included, e.g. ``initial_state``) become inputs of the saved
    model too; other values are passed as they are.
    ``expected_output_shape``: the shape (or a list of shapes, in output order) the call returns.
    ``input_mask``: passed as ``mask=``. ``expected_mask``: what ``compute_mask`` must return and
    the outputs must carry: an array (or a list per output, ``None`` for an output without one),
    `NO_MASK`, or ``None`` to skip the masking check. Returns the eager outputs.
    """
    call_kwargs = dict(call_kwargs or {})
    if input_mask is not None:
        call_kwargs["mask"] = input_mask
    layer = layer_cls(**init_kwargs)

    # Registered under the suite's package, so saved models find the class wherever it lives.
    registered = keras.saving.get_registered_name(layer_cls)
    assert registered == f"rnnsuite>{layer_cls.__name__}", registered
    assert keras.saving.get_registered_object(registered) is layer_cls

    # get_config round trip, directly and through the registered name; the config must be JSON
    # and hold every constructor argument (a missing one silently reverts to its default on load).
    config = layer.get_config()
    def parameters(cls):
        return [p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    # Arguments of a Keras base class (e.g. Embedding's ``lora_rank``) are that class's business.
    keras_base = next((c for c in layer_cls.__mro__[1:] if c.__module__.startswith("keras.")), None)
    inherited = set(parameters(keras_base)) if keras_base is not None else set()
    missing = [name for name in parameters(layer_cls) if name not in config and name not in inherited]
    assert not missing, f"{layer_cls.__name__}.get_config() misses constructor argument(s) {missing}"
    assert layer_cls.from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    json.dumps(serialized)
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is layer_cls and restored.get_config() == config

    # Output shapes.
    outputs = layer(inputs, **call_kwargs)
    shapes = [tuple(_numpy(o).shape) for o in _flatten(outputs)]
    if expected_output_shape is not None:
        expected = (expected_output_shape if isinstance(expected_output_shape, list)
                    else [expected_output_shape])
        assert shapes == [tuple(s) for s in expected], (shapes, expected)

    # Masking: what compute_mask says, and what Keras attached to the eager outputs.
    if expected_mask is not None:
        _assert_masks(layer.compute_mask(inputs, input_mask), expected_mask, "compute_mask")
        _assert_masks([get_keras_mask(o) for o in _flatten(outputs)],
                      NO_MASK if expected_mask is NO_MASK else expected_mask, "the outputs' mask")

    # A functional model holding the same layer: symbolic shapes agree with the eager ones, and the
    # model computes the eager outputs, before and after a round trip through a .keras file.
    feeds = {}
    symbolic_inputs = _symbolize(inputs, "inputs", feeds)
    symbolic_kwargs = {k: _symbolize(v, k, feeds) for k, v in call_kwargs.items()}
    symbolic_outputs = layer(symbolic_inputs, **symbolic_kwargs)
    symbolic_shapes = [tuple(o.shape) for o in _flatten(symbolic_outputs)]
    assert len(symbolic_shapes) == len(shapes), (symbolic_shapes, shapes)
    for sym, eager in zip(symbolic_shapes, shapes):
        assert len(sym) == len(eager) and all(s is None or s == e for s, e in zip(sym, eager)), (sym, eager)

    symbolic_feeds = _flatten([symbolic_inputs, symbolic_kwargs])
    model = keras.Model({t.name: t for t in symbolic_feeds if isinstance(t, keras.KerasTensor)},
                        symbolic_outputs)
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    reloaded_layer = loaded.get_layer(layer.name)
    assert type(reloaded_layer) is layer_cls and reloaded_layer.get_config() == layer.get_config()
    eager = _flatten(outputs)
    for name, model_outputs in (("model", model(feeds)), ("reloaded model", loaded(feeds))):
        model_outputs = _flatten(model_outputs)
        assert len(model_outputs) == len(eager), name
        for got, want in zip(model_outputs, eager):
            got, want = _numpy(got), _numpy(want)
            if got.dtype.kind in "fc":
                np.testing.assert_allclose(got, want, atol=atol, err_msg=name)
            else:  # ids, flags, strings: exact
                np.testing.assert_array_equal(got, want, err_msg=name)
    return outputs


def serve_in_fresh_process(export_dir, inputs: dict, tmp_path, signature: str = "serving_default",
                           imports=()) -> dict:
    """Outputs of one exported signature called in a new Python process that imports only TensorFlow
    (`serve_calls_in_fresh_process` with one call)."""
    return serve_calls_in_fresh_process(export_dir, [(signature, inputs)], tmp_path, imports)[0]


def serve_calls_in_fresh_process(export_dir, calls: list, tmp_path, imports=()) -> list[dict]:
    """The outputs of each ``(signature, inputs)`` of ``calls``, all made in one new Python process that
    imports only TensorFlow (and the op libraries named in ``imports``: ``tensorflow_text`` for a
    subword run's tokenizer ops).

    This is how a deployment sees the SavedModel: if the graph needed any of this
    project's code (a custom op, a Python-side vocabulary), loading or calling it
    here fails, and the script also asserts that no project module got imported.
    String outputs come back as ``str`` arrays.
    """
    import os
    import subprocess
    import sys
    import textwrap

    names = [name for name, _ in calls]
    for i, (_, inputs) in enumerate(calls):
        np.savez(tmp_path / f"inputs_{i}.npz", **{k: np.asarray(v) for k, v in inputs.items()})
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        for module in {list(imports)!r}:
            __import__(module)
        loaded = tf.saved_model.load({str(export_dir)!r})
        for i, name in enumerate({names!r}):
            inputs = dict(np.load({str(tmp_path)!r} + f"/inputs_{{i}}.npz"))
            out = loaded.signatures[name](**{{k: tf.constant(v) for k, v in inputs.items()}})
            out = {{k: v.numpy() for k, v in out.items()}}
            out = {{k: np.vectorize(lambda b: b.decode("utf-8"), otypes=[str])(v) if v.dtype == object else v
                   for k, v in out.items()}}
            np.savez({str(tmp_path)!r} + f"/outputs_{{i}}.npz", **out)
        assert not [m for m in sys.modules if m.split(".")[0] in ("common", "tasks")]
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return [dict(np.load(tmp_path / f"outputs_{i}.npz")) for i in range(len(calls))]


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
