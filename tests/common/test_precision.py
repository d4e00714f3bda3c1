"""``train.precision`` (common/precision.py): the bf16 CPU detection, the policy scope that never leaks,
the float32 output cast, and the shared layers that stay float32 in a mixed_bfloat16 model."""
import keras
import numpy as np
import pytest

from common import config as cfg
from common import precision
from common.layers.blend import Blend
from common.layers.crf import CRF
from common.layers.naive_bayes_linear import NaiveBayesLinear

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu vme sse2 avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
COOPER_LAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
AMX_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx2 amx_bf16 amx_tile\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\nbugs\t\t: avx512_bf16\n"


@pytest.fixture
def cpuinfo(monkeypatch, tmp_path):
    """Point the detection at a cpuinfo file holding the given text (None: no such file)."""
    def use(text):
        path = tmp_path / "cpuinfo"
        if text is not None:
            path.write_text(text)
        monkeypatch.setattr(precision, "CPUINFO", path)
    return use


@pytest.mark.parametrize("text, has_bf16", [(SAPPHIRE_RAPIDS, True), (COOPER_LAKE, True), (AMX_ONLY, True),
                                            (SKYLAKE, False), ("", False), (None, False)])
def test_auto_is_mixed_bfloat16_only_where_the_cpu_lists_a_bf16_flag(cpuinfo, text, has_bf16):
    cpuinfo(text)
    assert precision.cpu_has_bf16() is has_bf16
    assert precision.resolve("auto") == ("mixed_bfloat16" if has_bf16 else "float32")


def test_flags_are_read_from_the_flags_line_only():
    """"avx512_bf16" on the bugs line (SKYLAKE) or in a model name is not a flag the CPU has."""
    assert "avx512_bf16" not in precision.cpu_flags(SKYLAKE)
    assert {"avx512_bf16", "amx_bf16", "avx2"} <= precision.cpu_flags(SAPPHIRE_RAPIDS)


@pytest.mark.parametrize("name", ["float32", "mixed_bfloat16"])
def test_named_precisions_resolve_to_themselves_whatever_the_cpu(cpuinfo, name):
    cpuinfo(SKYLAKE)
    assert precision.resolve(name) == name
    cpuinfo(SAPPHIRE_RAPIDS)
    assert precision.resolve(name) == name


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="mixed_float16"):
        precision.resolve("mixed_float16")


def test_the_config_option_defaults_to_float32_and_lists_its_choices():
    train = cfg.TrainConfig()
    assert train.precision == "float32"
    assert cfg.from_dict(cfg.TrainConfig, {"precision": "auto"}, "train").precision == "auto"
    with pytest.raises(cfg.ConfigError, match="float32, mixed_bfloat16, auto"):
        cfg.from_dict(cfg.TrainConfig, {"precision": "bfloat16"}, "train")


def test_the_scope_builds_mixed_layers_and_puts_the_previous_policy_back():
    before = keras.config.dtype_policy()
    with precision.policy_scope("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
    assert keras.config.dtype_policy() is before and before.name == "float32"
    assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
    assert keras.layers.Dense(2).compute_dtype == "float32"  # a later layer is float32 again


def test_the_scope_puts_the_policy_back_when_building_fails():
    with pytest.raises(RuntimeError, match="boom"):
        with precision.policy_scope("mixed_bfloat16"):
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


def test_the_scope_restores_whatever_policy_was_set_before_it():
    """Not float32 by assumption: a caller's own global policy (e.g. a notebook's) survives a train."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        with precision.policy_scope("float32"):
            assert keras.layers.Dense(1).compute_dtype == "float32"
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")


def test_float32_output_casts_a_bfloat16_output_and_adds_nothing_to_a_float32_one():
    inputs = keras.Input((3,))
    plain = keras.layers.Dense(2)(inputs)
    assert precision.float32_output(plain, "out") is plain
    with precision.policy_scope("mixed_bfloat16"):
        hidden = keras.layers.Dense(2)(inputs)
        out = precision.float32_output(hidden, "out")
    assert hidden.dtype == "bfloat16" and out.dtype == "float32"
    model = keras.Model(inputs, out)
    assert model.get_layer("out").dtype_policy.name == "float32"
    y = model(np.ones((4, 3), "float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"


@pytest.mark.parametrize("make", [lambda: CRF(3), lambda: NaiveBayesLinear(2), lambda: Blend([1.0, 0.0])])
def test_output_end_layers_stay_float32_in_a_mixed_model(make):
    with precision.policy_scope("mixed_bfloat16"):
        layer = make()
        named = type(layer).from_config({**layer.get_config(), "dtype": "mixed_bfloat16"})
    assert layer.compute_dtype == "float32"
    assert type(layer).from_config(layer.get_config()).compute_dtype == "float32"  # as model.keras reloads it
    assert named.compute_dtype == "bfloat16"  # a dtype given explicitly still wins


def test_crf_passes_bfloat16_emissions_on_as_float32():
    with precision.policy_scope("mixed_bfloat16"):
        emissions = keras.Input((None, 3))
        hidden = keras.layers.Dense(3)(emissions)
        out = CRF(3)(hidden)
    assert hidden.dtype == "bfloat16" and out.dtype == "float32"
