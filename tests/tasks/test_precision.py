"""``train.precision: mixed_bfloat16`` on every task: the demo model computes in bfloat16 with float32
variables, trains a few steps to the float32 run's losses, reloads from model.keras with the same numbers,
and serves the same signatures with float32 outputs; the default (float32) builds exactly the model it
built before mixed precision existed."""
import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from common import config as cfg
from common import lifecycle, registry
from common.export import build_archive
from common.precision import policy_scope
from common.run import RunFolder
from common.training import compile_model, fit, seed_everything
from tasks.language_model.layers import StatefulRecurrent
from tests.tasks.test_conformance import tiny_config

TASKS = sorted(registry.TASK_MODULES)
STEPS = 4  # training batches per run: enough to move every weight, a few seconds on two cores
RECURRENT = (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN, keras.layers.LSTMCell,
             keras.layers.GRUCell, keras.layers.SimpleRNNCell)


def _short(prepared):
    """The task's prepared data with its training and validation streams cut to a few batches."""
    return dataclasses.replace(prepared, train=prepared.train.take(STEPS), val=prepared.val.take(2))


def _trained(task, config, prepared, precision):
    """A model built and compiled under ``precision`` from the seed, trained ``STEPS`` batches by the
    shared loop, as `train` does it; returns it with its history."""
    config = cfg.with_values(config, {"train.precision": precision})
    seed_everything(config.seed, config.train.deterministic)
    with policy_scope(config.train.precision):
        model = task.build_model(config, prepared)
        compile_model(task, model, config, prepared)
    _, history = fit(task, model, config, prepared, epochs=1)
    return model, history.history


def _serve(task, model, config, prepared):
    """Every exported signature's input specs and its outputs on the inputs the conformance checks serve
    (`Task.reference_outputs`), traced as the export traces them: ``{signature: (specs, outputs)}``."""
    _, signatures = build_archive(task, model, config, prepared)
    served = {}
    for name, (inputs, _) in task.reference_outputs(model, config, prepared).items():
        _reset(model)
        outputs = signatures[name].fn(**inputs)
        specs = [(spec.name, spec.dtype, tuple(spec.shape)) for spec in signatures[name].input_signature]
        served[name] = specs, {k: np.asarray(v) for k, v in outputs.items()}
    return served


def _reset(model):
    """Zero a stateful language model's carried states, so two models start from the same state."""
    for layer in model.layers:
        if isinstance(layer, StatefulRecurrent):
            layer.reset_states()


def _first_batch(prepared):
    inputs, _ = next(iter(prepared.val))
    return inputs


# The default run trains translation, whose decoder needed the most casts; `-m slow` trains every task.
@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=() if name == "translation" else pytest.mark.slow) for name in TASKS])
def both(request, tmp_path_factory):
    """Each task's demo model trained a few steps in float32 and in mixed_bfloat16 from the same seed."""
    task = registry.get_task(request.param)
    folder = tmp_path_factory.mktemp(f"precision_{task.name}")
    config = tiny_config(task, folder / "data")
    prepared = _short(task.prepare(config))
    runs = {p: _trained(task, config, prepared, p) for p in ("float32", "mixed_bfloat16")}
    return task, config, prepared, runs, folder


def test_mixed_bfloat16_computes_in_bfloat16_with_float32_variables(both):
    task, _, prepared, runs, _ = both
    model, _ = runs["mixed_bfloat16"]
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}  # what the optimizer updates and checkpoints hold
    recurrent = [layer for layer in model._flatten_layers() if isinstance(layer, RECURRENT)]
    assert recurrent and {layer.compute_dtype for layer in recurrent} == {"bfloat16"}  # where the time goes
    assert [output.dtype for output in model.outputs] == ["float32"] * len(model.outputs)
    _reset(model)
    predictions = keras.ops.convert_to_numpy(model(_first_batch(prepared), training=False))
    assert predictions.dtype == np.float32 and np.isfinite(predictions).all()
    assert keras.config.dtype_policy().name == "float32"  # nothing leaked into the models built after it


def test_mixed_bfloat16_trains_to_the_float32_losses(both):
    """Same seed, same batches, same starting weights: only the compute precision differs, so after a few
    steps the losses agree to a few per cent (bfloat16 keeps 8 bits of mantissa)."""
    _, _, _, runs, _ = both
    full, mixed = runs["float32"][1], runs["mixed_bfloat16"][1]
    for key in ("loss", "val_loss"):
        assert np.isfinite(mixed[key]).all()
        np.testing.assert_allclose(mixed[key], full[key], rtol=0.05)


def test_a_mixed_bfloat16_model_reloads_with_the_numbers_it_was_trained_with(both):
    """model.keras reloaded as evaluate and export load it (under the run's precision): every layer,
    sublayers made in constructors included, computes in the dtype it trained in, so the outputs are the
    same to the bit."""
    task, _, prepared, runs, folder = both
    model, _ = runs["mixed_bfloat16"]
    run = RunFolder(folder / "run")
    run.path.mkdir(parents=True, exist_ok=True)
    model.save(str(run.model_path))
    loaded = lifecycle._load_model(run, "mixed_bfloat16")
    def policies(m):
        return [(type(layer).__name__, layer.dtype_policy.name) for layer in m._flatten_layers()]

    assert policies(loaded) == policies(model)
    batch = _first_batch(prepared)
    _reset(model)
    _reset(loaded)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(batch, training=False)),
                                  keras.ops.convert_to_numpy(model(batch, training=False)))
    assert keras.config.dtype_policy().name == "float32"


def test_the_export_serves_the_float32_signatures_from_a_mixed_bfloat16_model(both):
    task, config, prepared, runs, _ = both
    full = _serve(task, runs["float32"][0], config, prepared)
    mixed = _serve(task, runs["mixed_bfloat16"][0], config, prepared)

    def kinds(served):  # each signature's inputs, and its outputs' dtypes and shapes
        return {name: (specs, {k: (v.dtype, v.shape) for k, v in outputs.items()})
                for name, (specs, outputs) in served.items()}

    assert kinds(mixed) == kinds(full)  # the float32 model's float outputs are float32
    floats = [v for _, outputs in mixed.values() for v in outputs.values() if v.dtype.kind == "f"]
    assert all(np.isfinite(v).all() for v in floats)  # (the tagger serves tags only: no floats to check)


@pytest.mark.parametrize("name", TASKS)
def test_the_default_precision_builds_the_float32_model_of_before(name, tmp_path):
    """train.precision's default goes through the same scope as mixed_bfloat16 but builds, to the bit, the
    model Keras builds with no policy set at all: float32 everywhere, no cast layer, the same outputs."""
    task = registry.get_task(name)
    config = tiny_config(task, tmp_path)
    assert config.train.precision == "float32"
    prepared = task.prepare(config)
    keras.utils.set_random_seed(config.seed)
    plain = task.build_model(config, prepared)
    keras.utils.set_random_seed(config.seed)
    with policy_scope(config.train.precision):
        scoped = task.build_model(config, prepared)
    assert {layer.dtype_policy.name for layer in scoped._flatten_layers()} == {"float32"}
    assert [layer.name for layer in scoped.layers] == [layer.name for layer in plain.layers]
    for a, b in zip(scoped.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    batch = _first_batch(prepared)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(scoped(batch, training=False)),
                                  keras.ops.convert_to_numpy(plain(batch, training=False)))
    assert tf.is_tensor(batch) or isinstance(batch, dict)


@pytest.mark.slow
def test_train_builds_under_the_configs_precision_and_exports_float32(tmp_path):
    """The whole `train` (forecasting: the quickest task) with mixed_bfloat16: the run's model.keras holds
    bfloat16 layers, reloads as such, and its SavedModel serves float32; the global policy is float32
    after it."""
    from common.export import load_serving

    task = registry.get_task("forecasting")
    config = cfg.with_values(tiny_config(task, tmp_path / "data"), {"train.precision": "mixed_bfloat16"})
    run, metrics = lifecycle.train(task, config, tmp_path / "run", log=lambda *args: None)
    assert np.isfinite(metrics["test"]["mse"])
    assert keras.config.dtype_policy().name == "float32"
    _, saved, state, model = lifecycle.load_run(task, run.path)
    assert saved.train.precision == "mixed_bfloat16"
    assert model.get_layer("forecaster").encoder.compute_dtype == "bfloat16"
    serve = load_serving(run.export_dir)
    example = task.serving_example(saved, task.prepare(saved, state))
    forecast = np.asarray(serve(**{key: tf.constant(value) for key, value in example.items()})["forecast"])
    assert forecast.dtype == np.float32 and np.isfinite(forecast).all()
