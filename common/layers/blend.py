"""A fixed weighted sum of several paths' logits, its weights fitted on held-out data after training.

Stacking (Wolpert 1992): paths that are trained apart (a recurrent network by gradient descent, a
linear n-gram model by its own solver) are combined by weights fitted on the validation split, not on
the training data, on which a path that memorised it would look perfect and take all the weight. The
weights are not trainable, so while the network trains they keep their initial values (e.g. ``[1, 0]``:
the output is the recurrent path alone, and early stopping selects its best epoch); `fit_blend` then
finds the weights that minimise the validation log-loss, and the layer, saved and exported with the
model, applies them.
"""
from __future__ import annotations

import keras
import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax


@keras.saving.register_keras_serializable(package="rnnsuite")
class Blend(keras.layers.Layer):
    """A list of ``[batch, classes]`` logits -> ``sum_k weights[k] * logits[k]``.

    Float32 unless a ``dtype`` is given: it combines logits right before the softmax, with weights
    fitted in float64 on the validation split, so a ``mixed_bfloat16`` model's bfloat16 logits are cast up
    here rather than the float32 paths cast down."""

    def __init__(self, initial_weights, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.initial_weights = [float(w) for w in initial_weights]

    def build(self, input_shape):
        if len(input_shape) != len(self.initial_weights):
            raise ValueError(f"Blend has {len(self.initial_weights)} weights but gets {len(input_shape)} inputs")
        self.blend_weights = self.add_weight(
            shape=(len(self.initial_weights),), trainable=False, name="blend_weights",
            initializer=keras.initializers.Constant(self.initial_weights))

    def call(self, logits):
        weights = keras.ops.cast(self.blend_weights, self.compute_dtype)
        return sum(weights[k] * keras.ops.cast(z, self.compute_dtype) for k, z in enumerate(logits))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "initial_weights": self.initial_weights}


def fit_blend(logits: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
    """The weights (one per path, each >= 0) whose weighted logit sum has the lowest mean log-loss on
    ``labels``; scipy's L-BFGS-B from equal weights (the loss is convex in the weights)."""
    stacked = np.stack([np.asarray(z, dtype="float64") for z in logits])  # [paths, batch, classes]
    rows = np.arange(len(labels))

    def loss(weights):
        log_p = log_softmax(np.tensordot(weights, stacked, axes=1), axis=-1)
        p = np.exp(log_p)
        grad_z = p.copy()
        grad_z[rows, labels] -= 1.0  # d(-log p_y)/dz = p - onehot(y)
        return -log_p[rows, labels].mean(), np.einsum("kbc,bc->k", stacked, grad_z) / len(labels)

    result = minimize(loss, np.ones(len(logits)), jac=True, method="L-BFGS-B",
                      bounds=[(0.0, None)] * len(logits))
    return result.x.astype("float32")
