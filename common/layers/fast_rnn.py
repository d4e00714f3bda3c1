"""Fast CPU LSTM and GRU layers: the stock Keras layers with a leaner recurrence.

Why: on a CPU, Keras 3 runs LSTM/GRU through its generic ``backend.rnn`` loop, which
calls the whole cell at every timestep (input matmul included) and lets TensorFlow
differentiate the ``while_loop`` op by op. Here, as cuDNN does on a GPU:

* the input projection of ALL timesteps is one big matrix product outside the loop;
* the loop body only does ``h @ recurrent_kernel`` plus fused gate math (one sigmoid
  over all gates);
* the backward pass is written by hand (``tf.custom_gradient``): the loop only
  propagates ``dh``/``dc`` and stores the gate gradients, and the recurrent-kernel
  gradient is then ONE matmul over all timesteps instead of one per step.
* in training, both time loops are XLA programs (``jit_recurrence``, default on): the
  per-op cost of TensorFlow's executor, paid at every step of a ``while_loop``, is most of
  the time at the batch and hidden sizes of CPU training. Time is padded (masked) to a
  multiple of ``TIME_BUCKET`` so that varying lengths reuse a few compiled programs.
* in training, when the per-step matmul is too small for XLA to split it across threads
  (``SPLIT_BELOW_MACS``), the batch is cut into parts whose time loops run side by side in
  TensorFlow's inter-op pool (`batch_parts`): rows are independent, so the numbers are the
  same, and a second core then works on the recurrence as oneDNN's kernels do in PyTorch.

``FastLSTM``/``FastGRU`` subclass ``keras.layers.LSTM``/``GRU`` and only replace
``inner_loop``, so the weights (``kernel``, ``recurrent_kernel``, ``bias``; GRU
``reset_after=True``), config, ``Bidirectional`` wrapping, ``return_sequences`` /
``return_state`` / ``go_backwards``, dropout and saved ``.keras`` files are the stock
ones. Masking reproduces ``keras.src.backend.tensorflow.rnn`` exactly: a masked step
keeps the previous state; its output is the previous output (zeros before the first
valid step), or zeros with ``zero_output_for_mask``. Configurations the fast path does
not cover (recurrent dropout, other activations, no bias, ``unroll``, a visible GPU
where cuDNN is faster) fall back to the stock implementation.
"""
from __future__ import annotations

import functools
import os

import keras
import tensorflow as tf

TIME_BUCKET = 8  # XLA training pads time to a multiple of this: one compiled program per bucket
# XLA's CPU dot ran on one thread below about this many multiply-adds (batch x units x gates x units):
# measured at batch 64, two threads, LSTM hidden 128 (4.2M) gained 1.2-1.4x from batch parts, GRU
# hidden 256 (12.6M) 1.15-1.2x, LSTM hidden 256 (16.8M) nothing, hidden 512 lost 5% (docs/benchmarks.md).
SPLIT_BELOW_MACS = 2 ** 24
MIN_PART_ROWS = 16  # a part smaller than this costs more in loop overhead than a core gives back
NOMINAL_BATCH = 64  # Keras' fit traces with an unknown batch size: the split then assumes this one
# `implementation: auto` builds the stock Keras layer for a training batch of about this many multiply-adds
# per step (rows x units x gates x units) and up: there oneDNN's per-step matmuls outrun the XLA loop's and
# the per-op overhead the fast path removes is a small part of the step. ETTh1's channel-independent GRU
# (1792 rows x 256 units: 352M) trained at 0.69x stock Keras on the fast path (benchmarks/results/
# epoch_time.md); the text configs (1.3M-25M per step) gain or tie with it.
STOCK_ABOVE_MACS = 2 ** 26
GATES = {"lstm": 4, "gru": 3}


def stock_is_faster(rows: int, units: int, cell: str) -> bool:
    """Whether a training batch of ``rows`` rows makes steps large enough for the stock layer
    (`STOCK_ABOVE_MACS`)."""
    return cell in GATES and rows * units * GATES[cell] * units >= STOCK_ABOVE_MACS


def parallel_threads() -> int:
    """How many ops TensorFlow runs side by side here: its inter-op pool, at most the usable CPUs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    inter = tf.config.threading.get_inter_op_parallelism_threads()  # 0: TensorFlow's default, the CPUs
    return min(inter, cpus) if inter else cpus


def batch_parts(batch, units: int, gates: int, concurrent_layers: int = 1) -> int:
    """How many parts the batch is cut into for the XLA time loops (1: not cut).

    Cut when the step's ``[batch, units] @ [units, gates * units]`` matmul is below
    ``SPLIT_BELOW_MACS`` (above it XLA's dot uses the threads itself), into one part per thread
    left over by the ``concurrent_layers`` that run at the same time (a Bidirectional wrapper's
    two directions), each part at least ``MIN_PART_ROWS`` rows. ``batch`` None (unknown until
    run time) is taken as ``NOMINAL_BATCH``."""
    rows = NOMINAL_BATCH if batch is None else batch
    if rows * units * gates * units >= SPLIT_BELOW_MACS:
        return 1
    return max(1, min(parallel_threads() // max(1, concurrent_layers), rows // MIN_PART_ROWS))


def _time_major(x):
    return tf.transpose(x, [1, 0] + list(range(2, len(x.shape))))


def _project(sequences, kernel, bias):
    """[B, T, D] -> time-major [T, B, G]: one matmul for every timestep."""
    x = _time_major(sequences)
    shape = tf.shape(x)
    flat = tf.matmul(tf.reshape(x, [-1, shape[2]]), kernel) + bias
    return tf.reshape(flat, [shape[0], shape[1], -1])


def _shifted(first, seq):
    """The previous step's value for every step: [first, seq[0], ..., seq[T-2]]."""
    return tf.concat([first[None], seq[:-1]], axis=0)


def _ta(dtype, n):
    return tf.TensorArray(dtype, n)


def _loop(n, body, loop_vars):
    return tf.while_loop(lambda t, *_: t < n, body, (tf.constant(0),) + tuple(loop_vars),
                         maximum_iterations=n)[1:]


def _lstm_forward(xp, h0, c0, rk, mask, masked):
    """Forward LSTM loop: hs, the last c, and what the backward pass needs (stacked)."""
    n, units = tf.shape(xp)[0], tf.shape(h0)[1]
    new = lambda: _ta(xp.dtype, n)  # noqa: E731
    # All four gates through ONE tanh: sigmoid(z) = 0.5 + 0.5 * tanh(z / 2), so the i, f, o columns
    # are scaled by 0.5 on the way in and out and shifted by 0.5, the cell column g left as it is.
    half, one = tf.fill([units], tf.constant(0.5, xp.dtype)), tf.ones([units], xp.dtype)
    scale = tf.concat([half, half, one, half], axis=0)
    shift = tf.concat([half, half, tf.zeros([units], xp.dtype), half], axis=0)

    def step(t, h, c, h_ta, pc_ta, a_ta):
        a = tf.tanh((xp[t] + tf.matmul(h, rk)) * scale) * scale + shift
        i, f, g, o = tf.split(a, 4, axis=1)
        c_new = f * c + i * g
        h_new = o * tf.tanh(c_new)
        if masked:
            m = mask[t]
            c_new, h_new = tf.where(m, c_new, c), tf.where(m, h_new, h)
        return t + 1, h_new, c_new, h_ta.write(t, h_new), pc_ta.write(t, c), a_ta.write(t, a)

    _, c_last, h_ta, pc_ta, a_ta = _loop(n, step, (h0, c0, new(), new(), new()))
    return h_ta.stack(), c_last, pc_ta.stack(), a_ta.stack()


def _lstm_backward(d_hs, d_c_last, hs, prev_cs, gates, h0, rk, mask, masked):
    """Backward LSTM loop: gradients of xp, h0, c0 and the recurrent kernel. ``gates``: the
    activated i, f, g, o of every step."""
    n, units = tf.shape(hs)[0], tf.shape(h0)[1]
    rk_t = tf.transpose(rk)  # once, not in every step's matmul

    def back(k, dh_next, dc_next, dz_ta):
        t = n - 1 - k
        dh = d_hs[t] + dh_next
        i, f, g, o = tf.split(gates[t], 4, axis=1)
        c_prev = prev_cs[t]
        tc = tf.tanh(f * c_prev + i * g)
        dc = dc_next + dh * o * (1.0 - tc * tc)
        dz = tf.concat([dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f),
                        dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o)], axis=1)
        dc_prev = dc * f
        if masked:
            m = mask[t]
            dz = tf.where(m, dz, tf.zeros_like(dz))
            dc_prev = tf.where(m, dc_prev, dc_next)
            dh_prev = tf.matmul(dz, rk_t) + tf.where(m, tf.zeros_like(dh), dh)
        else:
            dh_prev = tf.matmul(dz, rk_t)
        return k + 1, dh_prev, dc_prev, dz_ta.write(t, dz)

    dh0, dc0, dz_ta = _loop(n, back, (tf.zeros_like(h0), d_c_last, _ta(hs.dtype, n)))
    dz = dz_ta.stack()
    prev_hs = _shifted(h0, hs)
    d_rk = tf.matmul(tf.reshape(prev_hs, [-1, units]), tf.reshape(dz, [-1, 4 * units]), transpose_a=True)
    return dz, dh0, dc0, d_rk


def _gru_forward(xp, h0, rk, rb, mask, masked):
    """Forward GRU (``reset_after``) loop: hs and what the backward pass needs (stacked)."""
    n, units = tf.shape(xp)[0], tf.shape(h0)[1]
    new = lambda: _ta(xp.dtype, n)  # noqa: E731

    def step(t, h, h_ta, zr_ta, hh_ta, mh_ta):
        mx = xp[t]
        mh = tf.matmul(h, rk) + rb
        zr = tf.sigmoid(mx[:, :2 * units] + mh[:, :2 * units])  # fused update + reset gates
        z, r = tf.split(zr, 2, axis=1)
        mhh = mh[:, 2 * units:]
        hh = tf.tanh(mx[:, 2 * units:] + r * mhh)
        h_new = hh + z * (h - hh)
        if masked:
            h_new = tf.where(mask[t], h_new, h)
        return (t + 1, h_new, h_ta.write(t, h_new), zr_ta.write(t, zr), hh_ta.write(t, hh),
                mh_ta.write(t, mhh))

    _, h_ta, zr_ta, hh_ta, mh_ta = _loop(n, step, (h0, new(), new(), new(), new()))
    return h_ta.stack(), zr_ta.stack(), hh_ta.stack(), mh_ta.stack()


def _gru_backward(d_hs, hs, gates, candidates, recurrent_parts, h0, rk, mask, masked):
    """Backward GRU loop: gradients of xp, h0, the recurrent kernel and the recurrent bias."""
    n, units = tf.shape(hs)[0], tf.shape(h0)[1]
    prev_hs = _shifted(h0, hs)
    rk_t = tf.transpose(rk)  # once, not in every step's matmul

    def back(k, dh_next, dmx_ta, dmh_ta):
        t = n - 1 - k
        dh = d_hs[t] + dh_next
        z, r = tf.split(gates[t], 2, axis=1)
        hh = candidates[t]
        da_h = dh * (1.0 - z) * (1.0 - hh * hh)
        da_z = dh * (prev_hs[t] - hh) * z * (1.0 - z)
        da_r = da_h * recurrent_parts[t] * r * (1.0 - r)
        dmx = tf.concat([da_z, da_r, da_h], axis=1)
        dmh = tf.concat([da_z, da_r, da_h * r], axis=1)
        direct = dh * z
        if masked:
            m = mask[t]
            dmx = tf.where(m, dmx, tf.zeros_like(dmx))
            dmh = tf.where(m, dmh, tf.zeros_like(dmh))
            direct = tf.where(m, direct, dh)
        dh_prev = direct + tf.matmul(dmh, rk_t)
        return k + 1, dh_prev, dmx_ta.write(t, dmx), dmh_ta.write(t, dmh)

    dh0, dmx_ta, dmh_ta = _loop(n, back, (tf.zeros_like(h0), _ta(hs.dtype, n), _ta(hs.dtype, n)))
    dmh = tf.reshape(dmh_ta.stack(), [-1, 3 * units])
    d_rk = tf.matmul(tf.reshape(prev_hs, [-1, units]), dmh, transpose_a=True)
    return dmx_ta.stack(), dh0, d_rk, tf.reduce_sum(dmh, axis=0)


@functools.lru_cache(maxsize=None)
def _loops(cell, masked, xla):
    """(forward, backward) for a cell; with ``xla`` each is compiled by XLA into one program per
    shape, which removes TensorFlow's per-op cost inside the time loop (the bulk of the time at
    small batch and hidden sizes). Cached, so every layer shares the compiled programs."""
    forward, backward = {"lstm": (_lstm_forward, _lstm_backward), "gru": (_gru_forward, _gru_backward)}[cell]
    forward, backward = (functools.partial(f, masked=masked) for f in (forward, backward))
    if xla:
        return (tf.function(forward, jit_compile=True, reduce_retracing=True),
                tf.function(backward, jit_compile=True, reduce_retracing=True))
    return forward, backward


def _detached(*tensors):
    """The loops' inputs, invisible to any gradient tape: the gradient is the hand-written one,
    and a tape watching an XLA call would ask it for its loop internals (not supported)."""
    return [tf.stop_gradient(t) for t in tensors]


def _with_gradient(run, differentiable):
    """``run`` returns (outputs, grad_fn). Training uses the hand-written gradient; inference
    (and export) does not, because a SavedModel cannot serialize a gradient function that
    captures the forward loop's stored tensors. TensorFlow can still differentiate it."""
    if differentiable:
        return tf.custom_gradient(run)
    return lambda *args: run(*args)[0]


def _lstm_recurrence(masked, differentiable, xla=False):
    """The LSTM time loop over precomputed projections, with a hand-written gradient."""
    forward, backward = _loops("lstm", masked, xla and differentiable)
    inputs = _detached if differentiable else (lambda *tensors: tensors)

    def run(xp, h0, c0, rk, mask):
        hs, c_last, prev_cs, gates = forward(*inputs(xp, h0, c0, rk, mask))

        def grad(d_hs, d_c_last):
            d_hs = tf.zeros_like(hs) if d_hs is None else d_hs
            d_c_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
            return (*backward(d_hs, d_c_last, hs, prev_cs, gates, h0, rk, mask), None)

        return (hs, c_last), grad

    return _with_gradient(run, differentiable)


def _gru_recurrence(masked, differentiable, xla=False):
    """The GRU (``reset_after=True``) time loop over precomputed projections, hand-written gradient."""
    forward, backward = _loops("gru", masked, xla and differentiable)
    inputs = _detached if differentiable else (lambda *tensors: tensors)

    def run(xp, h0, rk, rb, mask):
        hs, gates, candidates, recurrent_parts = forward(*inputs(xp, h0, rk, rb, mask))

        def grad(d_hs):
            d_hs = tf.zeros_like(hs) if d_hs is None else d_hs
            return (*backward(d_hs, hs, gates, candidates, recurrent_parts, h0, rk, mask), None)

        return hs, grad

    return _with_gradient(run, differentiable)


def _in_parts(run, parts: int, xp, states, mask, *shared):
    """``run(xp, *states, *shared, mask)`` on ``parts`` slices of the batch, results joined.

    The batch is padded to a multiple of ``parts`` with masked-out rows (their state stays at
    zero and is cut off again), so every part has one shape and reuses one compiled program.
    The parts do not depend on each other, so TensorFlow's executor runs their loops (and
    their backward loops) at the same time. Results: time-major sequences ``[T, B, ...]``
    first, then ``[B, ...]`` states, as ``run`` returns them."""
    batch = tf.shape(xp)[1]
    extra = (parts - batch % parts) % parts
    xp = tf.pad(xp, [[0, 0], [0, extra], [0, 0]])
    mask = tf.pad(mask, [[0, 0], [0, extra], [0, 0]])
    states = [tf.pad(s, [[0, extra], [0, 0]]) for s in states]
    results = [run(x, *s, *shared, m) for x, *s, m in zip(tf.split(xp, parts, axis=1),
                                                         *(tf.split(s, parts) for s in states),
                                                         tf.split(mask, parts, axis=1))]
    results = [r if isinstance(r, (list, tuple)) else (r,) for r in results]
    joined = [tf.concat(list(outs), axis=1 if i == 0 else 0) for i, outs in enumerate(zip(*results))]
    return [joined[0][:, :batch]] + [j[:batch] for j in joined[1:]]


def _masked_outputs(hs, mask, zero_output_for_mask):
    """Keras' output rule for masked steps, applied to the carried hidden states."""
    if mask is None:
        return hs
    if zero_output_for_mask:
        keep = mask
    else:  # previous output is carried; it is zero until the first valid step
        keep = tf.cumsum(tf.cast(mask, tf.int32), axis=0) > 0
    return tf.where(keep, hs, tf.zeros_like(hs))


class _FastPath:
    """Mixin: replaces ``inner_loop`` of a stock Keras LSTM/GRU with the fast recurrence.

    ``jit_recurrence`` (default on): in training, the forward and backward time loops are
    XLA programs, with time padded (and masked) to a multiple of ``TIME_BUCKET`` steps so that
    sequences of varying length reuse a few compiled programs, and the batch cut into
    `batch_parts` run side by side. Inference and export run the plain TensorFlow loop, so a
    SavedModel needs no XLA. ``concurrent_layers``: how many layers run at the same time as
    this one and share the CPU threads (2 in a Bidirectional wrapper, set by `RecurrentBlock`).
    """

    def __init__(self, *args, jit_recurrence=True, concurrent_layers=1, **kwargs):
        super().__init__(*args, **kwargs)
        self.jit_recurrence = jit_recurrence
        self.concurrent_layers = concurrent_layers  # 2 in a Bidirectional wrapper: see `batch_parts`

    def get_config(self):
        return {**super().get_config(), "jit_recurrence": self.jit_recurrence,
                "concurrent_layers": self.concurrent_layers}

    def _parts(self, xp, xla, gates):
        """`batch_parts` for this call: only in the XLA training loops, whose time is padded already."""
        if not xla:
            return 1
        return batch_parts(xp.shape[1], self.units, gates, self.concurrent_layers)

    def _fast_path_applies(self):
        cell = self.cell
        return (self.use_cudnn != True  # noqa: E712 (the user asked for cuDNN explicitly)
                and not self.recurrent_dropout and not self.unroll and cell.use_bias
                and cell.activation is keras.activations.tanh
                and cell.recurrent_activation is keras.activations.sigmoid
                and keras.backend.backend() == "tensorflow"
                and not tf.config.list_logical_devices("GPU"))  # cuDNN wins on a GPU

    def _dropped(self, sequences, training):
        """Input dropout with one mask per sequence, as the stock (cuDNN) path does."""
        if training and self.dropout:
            dp_mask = self.cell.get_dropout_mask(sequences[:, 0, :])
            return sequences * dp_mask[:, None, :]
        return sequences

    def _prepare(self, sequences, mask, training, kernel, bias):
        dtype = sequences.dtype
        xp = _project(self._dropped(sequences, training), tf.cast(kernel, dtype), tf.cast(bias, dtype))
        if mask is not None:
            if isinstance(mask, (list, tuple)):
                mask = mask[0]
            mask = tf.cast(_time_major(mask), tf.bool)[:, :, None]
        if self.go_backwards:  # outputs stay in processing order, as in Keras
            xp = tf.reverse(xp, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        return xp, mask

    def _bucketed(self, xp, mask, training):
        """In XLA training: pad time to a multiple of TIME_BUCKET, the new steps masked out.
        Returns ``(xp, mask, xla)``; masked steps carry the state, so the result is unchanged."""
        if not (training and self.jit_recurrence):
            return xp, mask, False
        n = tf.shape(xp)[0]
        extra = (TIME_BUCKET - n % TIME_BUCKET) % TIME_BUCKET
        if mask is None:
            mask = tf.ones([n, tf.shape(xp)[1], 1], tf.bool)
        pad = [[0, extra], [0, 0], [0, 0]]
        return tf.pad(xp, pad), tf.pad(mask, pad), True

    def _finish(self, hs, mask):
        outputs = _masked_outputs(hs, mask, self.zero_output_for_mask)
        return outputs[-1], _time_major(outputs)


@keras.saving.register_keras_serializable(package="rnnsuite")
class FastLSTM(_FastPath, keras.layers.LSTM):
    """``keras.layers.LSTM`` with the fast CPU recurrence (same weights, config and results)."""

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._fast_path_applies():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        xp, mask = self._prepare(sequences, mask, training, self.cell.kernel, self.cell.bias)
        h0, c0 = (tf.cast(s, xp.dtype) for s in initial_state)
        rk = tf.cast(self.cell.recurrent_kernel, xp.dtype)
        n = tf.shape(xp)[0]
        xp, loop_mask, xla = self._bucketed(xp, mask, bool(training))
        run = _lstm_recurrence(loop_mask is not None, bool(training), xla)
        parts = self._parts(xp, xla, 4)
        if parts > 1:
            hs, c_last = _in_parts(run, parts, xp, [h0, c0], loop_mask, rk)
        else:
            hs, c_last = run(xp, h0, c0, rk, tf.zeros([0], tf.bool) if loop_mask is None else loop_mask)
        hs = hs[:n]
        last_output, outputs = self._finish(hs, mask)
        return last_output, outputs, [hs[-1], c_last]


@keras.saving.register_keras_serializable(package="rnnsuite")
class FastGRU(_FastPath, keras.layers.GRU):
    """``keras.layers.GRU`` (``reset_after=True``) with the fast CPU recurrence."""

    def _fast_path_applies(self):
        return self.cell.reset_after and super()._fast_path_applies()

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not self._fast_path_applies():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        bias = self.cell.bias  # (2, 3 * units): input bias, recurrent bias
        xp, mask = self._prepare(sequences, mask, training, self.cell.kernel, bias[0])
        h0 = initial_state[0] if isinstance(initial_state, (list, tuple)) else initial_state
        h0 = tf.cast(h0, xp.dtype)
        rk = tf.cast(self.cell.recurrent_kernel, xp.dtype)
        n = tf.shape(xp)[0]
        xp, loop_mask, xla = self._bucketed(xp, mask, bool(training))
        run = _gru_recurrence(loop_mask is not None, bool(training), xla)
        recurrent_bias = tf.cast(bias[1], xp.dtype)
        parts = self._parts(xp, xla, 3)
        if parts > 1:
            hs, = _in_parts(run, parts, xp, [h0], loop_mask, rk, recurrent_bias)
        else:
            hs = run(xp, h0, rk, recurrent_bias, tf.zeros([0], tf.bool) if loop_mask is None else loop_mask)
        hs = hs[:n]
        last_output, outputs = self._finish(hs, mask)
        return last_output, outputs, [hs[-1]]
