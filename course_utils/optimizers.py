"""Optimizers as update rules in NumPy, each exactly as Keras 3 computes it.

One step of each takes the weights ``v``, their gradient ``g`` and the optimizer's state
for those weights, and returns the new weights and the new state (new arrays; nothing is
changed in place). ``tests/test_optimizers.py`` proves every rule against
``keras.optimizers`` over several steps with non-default settings, weights and every
accumulator compared after each step. Adadelta, the source's optimizer, lives with the
backward pass of chapter 5 (:func:`course_utils.backprop.adadelta_step`) and is
re-exported here.

==========================  ==============================================================
SGD                          v <- v - eta g
SGD with momentum mu         m <- mu m - eta g;   v <- v + m
  (Nesterov)                 m <- mu m - eta g;   v <- v + mu m - eta g
Adam (beta1, beta2, eps)     m <- beta1 m + (1 - beta1) g;   s <- beta2 s + (1 - beta2) g^2
                             v <- v - eta sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(s) + eps)
==========================  ==============================================================
"""

from __future__ import annotations

import numpy as np

from course_utils.backprop import adadelta_step, same_shape

__all__ = ["sgd_step", "adam_step", "adadelta_step"]


def _same_shape(v, g, **state):
    v, g = same_shape(v, g, **state)
    return v.astype(float), g.astype(float)


def sgd_step(v, g, velocity=None, learning_rate: float = 0.01, momentum: float = 0.0,
             nesterov: bool = False):
    """One step of (momentum) SGD as ``keras.optimizers.SGD``: returns ``(v, velocity)``.

    ``velocity`` is Keras' ``momentum`` variable, zero before the first step (``None``
    means zero). Without momentum it stays zero and the step is ``v - eta g``.

    >>> sgd_step(np.array([1.0]), np.array([0.5]), learning_rate=0.1)
    (array([0.95]), array([0.]))
    >>> v, m = sgd_step(np.array([1.0]), np.array([0.5]), np.array([-0.2]), 0.1, momentum=0.9)
    >>> v.round(6), m.round(6)
    (array([0.77]), array([-0.23]))
    """
    velocity = np.zeros(np.shape(v)) if velocity is None else velocity
    v, g = _same_shape(v, g, velocity=velocity)
    if momentum == 0:
        return v - learning_rate * g, np.zeros(v.shape)
    velocity = momentum * np.asarray(velocity, dtype=float) - learning_rate * g
    step = momentum * velocity - learning_rate * g if nesterov else velocity
    return v + step, velocity


def adam_step(v, g, first_moment, second_moment, t: int, learning_rate: float = 0.001,
              beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
    """Step ``t`` (1 for the first) of ``keras.optimizers.Adam``: returns
    ``(v, first_moment, second_moment)``, Keras' ``momentums`` and ``velocities``.

    Keras folds the bias corrections into the step size and adds ``epsilon`` after the
    square root (the original paper's form, Kingma & Ba 2015, Algorithm 1, last remark).

    >>> v, m, s = adam_step(np.array([1.0]), np.array([0.5]), np.zeros(1), np.zeros(1), t=1)
    >>> v.round(6), m, s          # the first step moves every weight by about eta
    (array([0.999]), array([0.05]), array([0.00025]))
    """
    if not isinstance(t, (int, np.integer)) or t < 1:
        raise ValueError(f"t: expected the step number, 1 for the first step, got {t!r}")
    v, g = _same_shape(v, g, first_moment=first_moment, second_moment=second_moment)
    first_moment = beta_1 * np.asarray(first_moment, dtype=float) + (1 - beta_1) * g
    second_moment = beta_2 * np.asarray(second_moment, dtype=float) + (1 - beta_2) * g * g
    alpha = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return v - alpha * first_moment / (np.sqrt(second_moment) + epsilon), first_moment, second_moment
