"""Batch normalisation (course_utils.batchnorm) against keras.layers.BatchNormalization in
training and inference mode, over several batches with non-default momentum and epsilon,
and its backward pass against tf.GradientTape; then the faults these checks must catch."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import batchnorm

MOMENTUM, EPSILON = 0.8, 1e-2


@pytest.fixture
def rng(request):
    return np.random.default_rng(list(request.node.name.encode()))


def _layer(rng, channels):
    layer = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON)
    layer.build((None, 5, 5, channels))
    gamma, beta = rng.normal(1, 0.5, channels), rng.normal(0, 0.5, channels)
    moving_mean, moving_var = rng.normal(0, 1, channels), rng.uniform(0.5, 2, channels)
    layer.set_weights([w.astype(np.float32) for w in (gamma, beta, moving_mean, moving_var)])
    return layer, gamma, beta, moving_mean, moving_var


def _forward(x, gamma, beta, mean, var, training):
    return batchnorm.batch_norm_forward(x, gamma, beta, mean, var, training, MOMENTUM, EPSILON)


def test_training_and_inference_match_keras_over_several_batches(rng):
    layer, gamma, beta, mean, var = _layer(rng, 4)
    for _ in range(3):                                  # the moving statistics after each batch
        x = rng.normal(2.0, 3.0, size=(6, 5, 5, 4)).astype(np.float32)
        y, _, mean, var = _forward(x, gamma, beta, mean, var, training=True)
        np.testing.assert_allclose(y, np.asarray(layer(x, training=True)), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(mean, layer.moving_mean.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(var, layer.moving_variance.numpy(), rtol=1e-5, atol=1e-5)
    x = rng.normal(2.0, 3.0, size=(3, 5, 5, 4)).astype(np.float32)
    y, _, same_mean, same_var = _forward(x, gamma, beta, mean, var, training=False)
    np.testing.assert_allclose(y, np.asarray(layer(x, training=False)), rtol=1e-4, atol=1e-4)
    assert same_mean is mean and same_var is var       # inference leaves them alone


def test_backward_matches_gradient_tape(rng):
    layer, gamma, beta, mean, var = _layer(rng, 3)
    x = rng.normal(1.0, 2.0, size=(4, 5, 5, 3))
    dy = rng.normal(size=x.shape)
    tx = tf.Variable(x.astype(np.float64))
    tg, tb = tf.Variable(gamma), tf.Variable(beta)
    with tf.GradientTape() as tape:
        mu, variance = tf.nn.moments(tx, axes=[0, 1, 2])
        y = tf.nn.batch_normalization(tx, mu, variance, tb, tg, EPSILON)
        loss = tf.reduce_sum(y * dy)
    expected = tape.gradient(loss, [tx, tg, tb])
    _, cache, _, _ = _forward(x, gamma, beta, mean, var, training=True)
    for ours, theirs in zip(batchnorm.batch_norm_backward(dy, cache), expected):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-7, atol=1e-9)
    # and Keras' own layer gives the same output as the tape's formula
    np.testing.assert_allclose(np.asarray(layer(x.astype(np.float32), training=True)), y.numpy(), atol=1e-4)


# --- planted faults -----------------------------------------------------------------------

def test_an_unbiased_variance_is_caught(rng):
    """n - 1 in the variance (a textbook's sample variance, np.var(ddof=1)) must not match."""
    layer, gamma, beta, mean, var = _layer(rng, 2)
    x = rng.normal(size=(2, 5, 5, 2)).astype(np.float32)
    y_keras = np.asarray(layer(x, training=True))
    x64 = x.astype(float)
    unbiased = x64.var(axis=(0, 1, 2), ddof=1)
    y_wrong = gamma * (x64 - x64.mean(axis=(0, 1, 2))) / np.sqrt(unbiased + EPSILON) + beta
    assert np.allclose(_forward(x, gamma, beta, mean, var, training=True)[0], y_keras, rtol=1e-4, atol=1e-4)
    assert not np.allclose(y_wrong, y_keras, rtol=1e-4, atol=1e-4)


def test_a_backward_pass_without_the_mean_terms_is_caught(rng):
    _, gamma, beta, mean, var = _layer(rng, 3)
    x, dy = rng.normal(size=(4, 5, 5, 3)), rng.normal(size=(4, 5, 5, 3))
    _, cache, _, _ = _forward(x, gamma, beta, mean, var, training=True)
    xhat, g, inv_std = cache
    right = batchnorm.batch_norm_backward(dy, cache)[0]
    assert not np.allclose(g * inv_std * dy, right, atol=1e-3)   # treating mu and var as constants


def test_bad_input_gets_a_clear_message():
    with pytest.raises(ValueError, match=r"gamma: expected one value per channel, shape \(3,\)"):
        batchnorm.batch_norm_forward(np.ones((2, 3)), np.ones(2), np.zeros(3), np.zeros(3), np.ones(3), True)
    with pytest.raises(ValueError, match="at least 2 axes"):
        batchnorm.batch_norm_forward(np.ones(3), np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), True)
