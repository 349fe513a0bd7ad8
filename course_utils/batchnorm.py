"""Batch normalisation, forward and backward, in NumPy, as ``keras.layers.BatchNormalization``
computes it (Ioffe & Szegedy, 2015). Channels last: every axis but the last is averaged.

Training, on a batch x (statistics over the batch and the positions, per channel c)::

    mu_c = mean(x_c),  var_c = mean((x_c - mu_c)^2)          (the biased variance)
    xhat = (x - mu) / sqrt(var + eps),   y = gamma xhat + beta
    moving_mu  <- momentum moving_mu  + (1 - momentum) mu    (Keras: momentum 0.99, eps 1e-3)
    moving_var <- momentum moving_var + (1 - momentum) var

Inference uses the moving statistics in place of mu and var. Backward (n values per channel)::

    dbeta = sum(dy),   dgamma = sum(dy xhat)
    dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat mean(dy xhat))

``tests/test_batchnorm.py`` proves all of it against Keras and ``tf.GradientTape``.
"""

from __future__ import annotations

import numpy as np


def _axes(x):
    if x.ndim < 2:
        raise ValueError(f"x: expected a batch with channels last, at least 2 axes, got shape {x.shape}")
    return tuple(range(x.ndim - 1))


def batch_norm_forward(x, gamma, beta, moving_mean, moving_var, training: bool,
                       momentum: float = 0.99, epsilon: float = 1e-3):
    """Returns ``(y, cache, moving_mean, moving_var)``: the output, what the backward pass
    needs, and the moving statistics (updated when ``training``, else unchanged)."""
    x = np.asarray(x, dtype=float)
    channels = x.shape[-1] if x.ndim else 0
    for name, value in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean), ("moving_var", moving_var)):
        if np.shape(value) != (channels,):
            raise ValueError(f"{name}: expected one value per channel, shape ({channels},), got {np.shape(value)}")
    axes = _axes(x)
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        moving_mean = momentum * np.asarray(moving_mean) + (1 - momentum) * mean
        moving_var = momentum * np.asarray(moving_var) + (1 - momentum) * var
    else:
        mean, var = np.asarray(moving_mean, dtype=float), np.asarray(moving_var, dtype=float)
    inv_std = 1 / np.sqrt(var + epsilon)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, np.asarray(gamma, dtype=float), inv_std), moving_mean, moving_var


def batch_norm_backward(dy, cache):
    """Gradients ``(dx, dgamma, dbeta)`` of a training-mode forward pass (its ``cache``)."""
    xhat, gamma, inv_std = cache
    dy = np.asarray(dy, dtype=float)
    if dy.shape != xhat.shape:
        raise ValueError(f"dy: expected the output's shape {xhat.shape}, got {dy.shape}")
    axes = _axes(dy)
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    dx = gamma * inv_std * (dy - dy.mean(axis=axes) - xhat * (dy * xhat).mean(axis=axes))
    return dx, dgamma, dbeta
