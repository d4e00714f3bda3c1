"""Every layer registered from common/layers has a test that runs it through the layer harness.

The guard finds the layers itself (every module of the package is imported, every class
registered under the "rnnsuite" package whose module is there is collected), so a new
layer cannot ship without its harness test: a test function in the mirrored test module
(``common/layers/x.py`` -> ``tests/common/layers/test_x.py``) that calls ``run_layer_test``
and names the class. Models (`CRFTagger`) are not layers: their save/load has its own test.
"""
import importlib
import inspect
import pkgutil
import re

import keras
import pytest

import common.layers

# Guards the guard: if the registry scan stopped finding layers, the check below would pass vacuously.
KNOWN_LAYERS = {"RecurrentBlock", "FastLSTM", "FastGRU", "BahdanauAttention", "LuongAttention",
                "ContextFeedingDecoder", "CRF", "SequencePooling", "AttentionPooling", "CharBiLSTM",
                "CharCNN", "CharIds", "ClipSequence"}


def registered_layers():
    """name -> class for every layer registered under "rnnsuite" by a module of common.layers."""
    for module in pkgutil.iter_modules(common.layers.__path__):
        importlib.import_module(f"common.layers.{module.name}")
    layers = {}
    for registered, obj in keras.saving.get_custom_objects().items():
        if (registered.startswith("rnnsuite>") and inspect.isclass(obj)
                and obj.__module__.startswith("common.layers.")
                and issubclass(obj, keras.layers.Layer) and not issubclass(obj, keras.Model)):
            layers[obj.__name__] = obj
    return layers


def harness_tests(layer_cls):
    """Test functions of the mirrored test module that run ``layer_cls`` through the harness."""
    module_name = f"tests.common.layers.test_{layer_cls.__module__.rsplit('.', 1)[1]}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return []
    named = re.compile(rf"\brun_layer_test\b[\s\S]*\b{layer_cls.__name__}\b|\b{layer_cls.__name__}\b"
                       rf"[\s\S]*\brun_layer_test\b")
    return [name for name, fn in inspect.getmembers(module, inspect.isfunction)
            if name.startswith("test_") and named.search(inspect.getsource(fn))]


def test_the_registry_scan_finds_the_known_layers():
    assert KNOWN_LAYERS <= set(registered_layers())


@pytest.mark.parametrize("name", sorted(registered_layers()))
def test_every_registered_layer_has_a_harness_test(name):
    layer_cls = registered_layers()[name]
    module = layer_cls.__module__.rsplit(".", 1)[1]
    assert harness_tests(layer_cls), (
        f"{name} ({layer_cls.__module__}) has no harness test: add to tests/common/layers/test_{module}.py "
        f"a test calling tests.harness.run_layer_test({name}, ...)")
