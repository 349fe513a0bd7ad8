"""The checkers of the chapter "Training well" against answers computed by Keras and
TensorFlow themselves (not by the course's functions the checkers use as references), and
the hints each names for a typical mistake."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.initializers.random_initializers import compute_fans

from course_utils import checks


def momentum_by_keras(v, g, phi, learning_rate, momentum):
    """One step of keras.optimizers.SGD from velocity ``phi``, in float64."""
    variable = keras.Variable(np.asarray(v, dtype=np.float64), dtype="float64")
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    optimizer.build([variable])
    optimizer.momentums[0].assign(np.asarray(phi, dtype=np.float64))
    optimizer.apply_gradients([(np.asarray(g, dtype=np.float64), variable)])
    return np.stack([np.asarray(variable), np.asarray(optimizer.momentums[0])])


def he_by_keras(kernel_shape):
    fan_in, _ = compute_fans(kernel_shape)
    return float(np.sqrt(2.0 / fan_in))


def batch_norm_by_tensorflow(u, gamma, beta, eps):
    mean, variance = tf.nn.moments(tf.constant(u, dtype=tf.float64), axes=[0, 1, 2])
    return tf.nn.batch_normalization(tf.constant(u, dtype=tf.float64), mean, variance,
                                     tf.constant(beta, dtype=tf.float64), tf.constant(gamma, dtype=tf.float64),
                                     eps).numpy()


@pytest.mark.parametrize("checker, answer", [(checks.check_momentum_step, momentum_by_keras),
                                             (checks.check_he_std, he_by_keras),
                                             (checks.check_batch_norm_forward, batch_norm_by_tensorflow)])
def test_answers_from_keras_pass(checker, answer):
    result = checker(answer)
    assert result.passed, result.message
    with checks.fresh_cases(31337):                      # the grader's cases
        result = checker(answer)
    assert result.passed, result.message


def _normalise(u, gamma, beta, eps, axes=(0, 1, 2), ddof=0):
    mean, var = u.mean(axis=axes, keepdims=True), u.var(axis=axes, ddof=ddof, keepdims=True)
    return gamma * (u - mean) / np.sqrt(var + eps) + beta


WRONG = [
    (checks.check_momentum_step, lambda v, g, phi, lr, mu: momentum_by_keras(v, g, np.zeros_like(phi), lr, mu),
     "old velocity"),
    (checks.check_momentum_step, lambda v, g, phi, lr, mu: np.stack([v - lr * (mu * phi + (1 - mu) * g),
                                                                      mu * phi + (1 - mu) * g]), "running sum"),
    (checks.check_momentum_step, lambda v, g, phi, lr, mu: momentum_by_keras(v, -g, phi, lr, mu), "against the gradient"),
    (checks.check_he_std, lambda shape: float(np.sqrt(2 / shape[-2])), "whole window"),
    (checks.check_he_std, lambda shape: he_by_keras(shape) ** 2, "square root"),
    (checks.check_he_std, lambda shape: he_by_keras(shape) / np.sqrt(2), "ReLU halves"),
    (checks.check_batch_norm_forward, lambda u, g, b, e: _normalise(u, g, b, e, axes=(1, 2)), "the batch's"),
    (checks.check_batch_norm_forward, lambda u, g, b, e: _normalise(u, g, b, e, ddof=1), "n - 1"),
    (checks.check_batch_norm_forward, lambda u, g, b, e: _normalise(u, g, b, e, axes=(0, 1, 2, 3)), "own mean"),
    (checks.check_batch_norm_forward, lambda u, g, b, e: _normalise(u, 1.0, 0.0, e), "gamma"),
]


@pytest.mark.parametrize("checker, answer, words", WRONG)
def test_mistakes_fail_with_their_hint(checker, answer, words):
    result = checker(answer)
    assert not result.passed
    assert result.message.startswith("Not yet") and words in result.message, result.message


def test_registered_with_their_chapter():
    for label, name, checker in [("ex-momentum-step", "my_momentum_step", checks.check_momentum_step),
                                 ("ex-he-std", "my_he_std", checks.check_he_std),
                                 ("ex-batch-norm-forward", "my_batch_norm", checks.check_batch_norm_forward)]:
        assert checks.EXERCISES[label] == (name, checker)
