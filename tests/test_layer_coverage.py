"""Every custom Keras layer of the suite has a test that runs it through the layer harness.

The guard finds the layers itself (every module of common/layers and of each task package
is imported, every class registered under the "rnnsuite" package whose module is there is
collected), so a new layer cannot ship without its harness test: a test function in the
mirrored test module (``common/layers/x.py`` -> ``tests/common/layers/test_x.py``,
``tasks/ner/layers.py`` -> ``tests/tasks/ner/test_layers.py``) that calls ``run_layer_test``
and names the class. Models (`CRFTagger`) are not layers: their save/load has its own test.
"""
import importlib
import inspect
import pkgutil
import re

import keras
import pytest

import common.layers
from common import registry

# Guards the guard: if the registry scan stopped finding layers, the check below would pass vacuously.
KNOWN_LAYERS = {"RecurrentBlock", "FastLSTM", "FastGRU", "BahdanauAttention", "LuongAttention",
                "ContextFeedingDecoder", "CRF", "SequencePooling", "AttentionPooling", "CharBiLSTM",
                "CharCNN", "CharIds", "ClipSequence", "WordDropout", "ReversibleEmbedding", "NaiveBayesLinear", "Blend",
                "RecurrentForecaster", "Lowercase", "Casing", "TokenMask", "ScheduledSampling", "SentenceChars",
                "WordEdges"}


def _packages():
    yield common.layers
    for module in registry.TASK_MODULES.values():
        yield importlib.import_module(module)


def registered_layers():
    """name -> class for every layer registered under "rnnsuite" by common.layers or a task package."""
    prefixes = []
    for package in _packages():
        for module in pkgutil.iter_modules(package.__path__):
            if module.name != "__main__":
                importlib.import_module(f"{package.__name__}.{module.name}")
        prefixes.append(package.__name__ + ".")
    layers = {}
    for registered, obj in keras.saving.get_custom_objects().items():
        if (registered.startswith("rnnsuite>") and inspect.isclass(obj)
                and obj.__module__.startswith(tuple(prefixes))
                and issubclass(obj, keras.layers.Layer) and not issubclass(obj, keras.Model)):
            layers[obj.__name__] = obj
    return layers


def mirrored_test_module(layer_cls) -> str:
    package, module = layer_cls.__module__.rsplit(".", 1)
    return f"tests.{package}.test_{module}"


def harness_tests(layer_cls):
    """Test functions of the mirrored test module that run ``layer_cls`` through the harness."""
    module_name = mirrored_test_module(layer_cls)
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
    path = mirrored_test_module(layer_cls).replace(".", "/") + ".py"
    assert harness_tests(layer_cls), (
        f"{name} ({layer_cls.__module__}) has no harness test: add to {path} "
        f"a test calling tests.harness.run_layer_test({name}, ...)")
