"""``train.precision``: which Keras dtype policy a model is built under.

``mixed_bfloat16`` keeps every variable (and so the optimizer's updates and the checkpoints) in float32
and computes in bfloat16, which oneDNN runs several times faster on CPUs with AVX512-BF16 or AMX; the
layers that feed a softmax, a loss or a CRF are declared float32 by the tasks, so probabilities, losses
and exported outputs stay float32. Unlike float16, bfloat16 has float32's exponent range: no loss
scaling is needed (Keras wraps the optimizer in a ``LossScaleOptimizer`` for ``mixed_float16`` only).

Keras reads the policy from a process-wide (per-thread) setting when a layer is created, so a model is
built inside `policy_scope`, which puts the previous policy back afterwards: a later model in the same
process (a test, a tune trial, a benchmark round) never inherits it by accident. Each layer records its
own policy in model.keras, so a trained model reloads with the precision it was trained with.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import keras

PRECISIONS = ("float32", "mixed_bfloat16", "auto")
# /proc/cpuinfo flags that mean the CPU computes bf16 matmuls natively (oneDNN uses them; without them it
# emulates bf16 in float32 and mixed precision only adds casts).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo_text: str | None = None) -> set[str]:
    """The flags the first processor of ``/proc/cpuinfo`` lists (empty where there is no such file: macOS,
    Windows, a sandbox without /proc)."""
    if cpuinfo_text is None:
        try:
            cpuinfo_text = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    for line in cpuinfo_text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def cpu_has_bf16(cpuinfo_text: str | None = None) -> bool:
    return any(flag in cpu_flags(cpuinfo_text) for flag in BF16_FLAGS)


def resolve(precision: str) -> str:
    """The Keras policy name for a ``train.precision`` value: ``auto`` is mixed_bfloat16 only where the
    CPU has native bf16 (detected when the model is built, so a config moves between machines)."""
    if precision == "auto":
        return "mixed_bfloat16" if cpu_has_bf16() else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    return precision


@contextlib.contextmanager
def policy_scope(precision: str):
    """Build models under ``precision``'s policy; the previous global policy is restored on exit, also
    when building fails."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_output(x, name: str):
    """``x`` (a symbolic model output) as float32: a linear ``Activation`` with the float32 policy after a
    layer that computed in bfloat16, as the Keras mixed-precision guide ends a model. Losses, metrics,
    evaluation and the exported signatures then read float32 while the matmul before stays in bfloat16
    (for a vocabulary-sized output layer most of the step's time). Under float32 nothing is added, so a
    float32 model's graph is the one it always was."""
    if keras.backend.standardize_dtype(x.dtype) == "float32":
        return x
    return keras.layers.Activation("linear", dtype="float32", name=name)(x)
