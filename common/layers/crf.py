"""Linear-chain conditional random field for sequence tagging (Lafferty et al. 2001; Lample et al. 2016).

Hand-written on purpose: no maintained CRF exists for Keras 3 (tensorflow-addons'
``CRF`` and keras-contrib's were Keras 2 only and are archived). The algorithms are
short and are tested against brute-force enumeration in ``tests/test_crf.py``.

Two pieces:

* `CRF`, a layer holding the transition scores (tag -> tag, plus start and end
  scores). In a model it passes the per-token emission scores through unchanged,
  so the model's output stays ``[batch, time, tags]``; its methods compute the
  sequence log-likelihood (forward algorithm) and the best path (Viterbi).
* `CRFTagger`, a functional ``keras.Model`` whose ``compute_loss`` is the CRF
  negative log-likelihood. Because it is a plain functional model with one custom
  method, ``model.keras`` saves and reloads it like any other functional model.

Masks are boolean ``[batch, time]`` with the real tokens first (right padding);
padded steps leave every score unchanged, so padding never changes a result.
Targets use ``-1`` for padding, which is how `CRFTagger` finds the mask.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

# Added to a forbidden transition when decoding with constraints: large enough to never win,
# small enough to keep float32 arithmetic finite.
FORBIDDEN = -1e4


@keras.saving.register_keras_serializable(package="rnnsuite")
class CRF(keras.layers.Layer):
    """Transition scores of a linear-chain CRF over ``num_tags`` tags.

    ``allowed`` (optional) is a ``[num_tags + 2, num_tags + 2]`` 0/1 matrix of legal
    transitions where row/column ``num_tags`` is START and ``num_tags + 1`` is END
    (see `tasks.ner.tags.allowed_transitions`); decoding never takes a forbidden
    one, so the output is always well-formed in the tagging scheme. Training is
    unconstrained (the learned scores make illegal moves unlikely anyway).

    Always float32 (unless a ``dtype`` is given), also in a ``mixed_bfloat16`` model: the forward
    algorithm's log-sum-exp over long sentences and the Viterbi ties need float32's mantissa, and the
    emissions it passes through are the model's output.
    """

    def __init__(self, num_tags, allowed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)
        self.allowed = None if allowed is None else np.asarray(allowed, dtype="float32").tolist()
        self.supports_masking = True

    def build(self, input_shape=None):
        n = self.num_tags
        self.transitions = self.add_weight(shape=(n, n), initializer="zeros", name="transitions")
        self.start_scores = self.add_weight(shape=(n,), initializer="zeros", name="start_scores")
        self.end_scores = self.add_weight(shape=(n,), initializer="zeros", name="end_scores")
        self.built = True

    def call(self, potentials, mask=None):
        return potentials  # the emission scores; the CRF's own scores are used by the loss and decoder

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_tags=self.num_tags, allowed=self.allowed)
        return config

    # ---- scores --------------------------------------------------------------------------------

    def _scores(self, constrained: bool):
        transitions = tf.convert_to_tensor(self.transitions)
        start = tf.convert_to_tensor(self.start_scores)
        end = tf.convert_to_tensor(self.end_scores)
        if constrained and self.allowed is not None:
            n = self.num_tags
            penalty = (1.0 - tf.constant(self.allowed, tf.float32)) * FORBIDDEN
            transitions = transitions + penalty[:n, :n]
            start = start + penalty[n, :n]
            end = end + penalty[:n, n + 1]
        return transitions, start, end

    def sequence_score(self, potentials, tags, mask):
        """Unnormalised score of the given tag paths: ``[batch]``."""
        transitions, start, end = self._scores(constrained=False)
        potentials = tf.cast(potentials, tf.float32)
        maskf = tf.cast(mask, tf.float32)
        tags = tf.maximum(tf.cast(tags, tf.int32), 0)  # padding (-1) is masked out below
        emissions = tf.gather(potentials, tags, batch_dims=2)
        score = tf.reduce_sum(emissions * maskf, axis=1)
        pair = tags[:, :-1] * self.num_tags + tags[:, 1:]
        moves = tf.gather(tf.reshape(transitions, [-1]), pair)
        score += tf.reduce_sum(moves * maskf[:, 1:], axis=1)
        score += tf.gather(start, tags[:, 0])
        last = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1, 0)
        score += tf.gather(end, tf.gather(tags, last, batch_dims=1))
        return score

    def log_partition(self, potentials, mask):
        """``log Z`` of every sequence (forward algorithm): ``[batch]``."""
        transitions, start, end = self._scores(constrained=False)
        steps, valid = _time_major_with_spare_step(potentials, mask)

        def step(alpha, inputs):
            emission, ok = inputs
            nxt = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None], axis=1) + emission
            return tf.where(ok[:, None], nxt, alpha)

        alpha = tf.foldl(step, (steps[1:], valid[1:]), initializer=start + steps[0])
        return tf.reduce_logsumexp(alpha + end, axis=1)

    def log_likelihood(self, potentials, tags, mask):
        """``log p(tags | inputs)`` per sequence: ``[batch]``."""
        return self.sequence_score(potentials, tags, mask) - self.log_partition(potentials, mask)

    def decode(self, potentials, mask, constrained: bool = True):
        """Best tag path (Viterbi): int32 ``[batch, time]``; padded steps repeat the last tag."""
        transitions, start, end = self._scores(constrained)
        steps, valid = _time_major_with_spare_step(potentials, mask)
        identity = tf.range(self.num_tags, dtype=tf.int32)[None, :]
        batch = tf.shape(steps)[1]

        def forward(carry, inputs):
            delta, _ = carry
            emission, ok = inputs
            scores = delta[:, :, None] + transitions[None]  # [batch, from, to]
            best = tf.reduce_max(scores, axis=1) + emission
            pointer = tf.argmax(scores, axis=1, output_type=tf.int32)
            return (tf.where(ok[:, None], best, delta),
                    tf.where(ok[:, None], pointer, tf.broadcast_to(identity, tf.shape(pointer))))

        delta0 = start + steps[0]
        deltas, pointers = tf.scan(forward, (steps[1:], valid[1:]),
                                   initializer=(delta0, tf.zeros([batch, self.num_tags], tf.int32)))
        last_delta = tf.concat([delta0[None], deltas], axis=0)[-1]
        last_tag = tf.argmax(last_delta + end, axis=1, output_type=tf.int32)

        def backward(tag, pointer):
            return tf.gather(pointer, tag, batch_dims=1)

        # The backtrace as a forward scan over the reversed pointers (the same path as `reverse=True`):
        # tf2onnx converts a reversed tf.scan into a graph that returns other paths, and the ONNX export
        # (tasks/ner/export.py) decodes with this method.
        earlier = tf.reverse(tf.scan(backward, tf.reverse(pointers, [0]), initializer=last_tag), [0])
        path = tf.concat([earlier, last_tag[None]], axis=0)[:-1]  # drop the spare step
        return tf.transpose(path, [1, 0])


def _time_major_with_spare_step(potentials, mask):
    """``[time + 1, batch, tags]`` scores and ``[time + 1, batch]`` mask, the extra step masked.

    The recursions scan over steps 1..T-1; the spare (always masked, so score-neutral)
    step keeps that range non-empty for one-token batches, where ``tf.scan`` over
    nothing fails to stack its outputs.
    """
    potentials = tf.cast(potentials, tf.float32)
    mask = tf.cast(mask, tf.bool)
    potentials = tf.concat([potentials, tf.zeros_like(potentials[:, :1])], axis=1)
    mask = tf.concat([mask, tf.zeros_like(mask[:, :1])], axis=1)
    return tf.transpose(potentials, [1, 0, 2]), tf.transpose(mask, [1, 0])


@keras.saving.register_keras_serializable(package="rnnsuite")
class CRFTagger(keras.Model):
    """A functional model ending in a `CRF` layer, trained on the CRF negative log-likelihood.

    Build it like any functional model, ``CRFTagger(inputs, outputs)``, with the `CRF`
    layer's output as ``outputs``. Targets are int tag ids ``[batch, time]`` with -1
    for padding. The loss is the mean negative log-likelihood per sentence (plus any
    regularisation losses); the compiled loss, if any, is ignored.
    """

    def __init__(self, *args, **kwargs):  # (*args, **kwargs) keeps it revivable as a functional model
        super().__init__(*args, **kwargs)

    @property
    def crf(self) -> CRF:
        for layer in self.layers:
            if isinstance(layer, CRF):
                return layer
        raise ValueError("CRFTagger needs a CRF layer")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y = tf.cast(y, tf.int32)
        nll = -self.crf.log_likelihood(y_pred, y, y >= 0)
        if sample_weight is not None:
            nll = nll * tf.cast(tf.reshape(sample_weight, [-1]), nll.dtype)
        loss = tf.reduce_mean(nll)
        extra = self.losses
        if extra:
            loss = loss + tf.add_n([tf.cast(v, loss.dtype) for v in extra])
        return loss

    def decode(self, inputs, mask):
        """Best tag ids for a batch of model inputs (Viterbi with the scheme's constraints)."""
        return self.crf.decode(self(inputs, training=False), mask)
