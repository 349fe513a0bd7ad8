"""Initial weights: the He and Glorot scales, from the variance of a layer's sum.

A unit sums ``fan_in`` products w x. With independent zero-mean weights of variance s^2
and inputs of mean square E[x^2], the sum's variance is ``fan_in s^2 E[x^2]``; keeping it
equal to the inputs' (layer after layer) asks for s^2 = 1 / fan_in, and after a ReLU, which
halves the mean square, s^2 = 2 / fan_in (He et al., 2015). Glorot & Bengio (2010) average
the forward and the backward count: s^2 = 2 / (fan_in + fan_out). Keras counts a kernel's
fans as below (``keras.initializers.VarianceScaling``); ``tests/test_initialisation.py``
checks both the counts and the scales against Keras' initializers.
"""

from __future__ import annotations

import math


def fans(kernel_shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a kernel, as Keras counts them: a Dense kernel (inputs, outputs)
    gives (inputs, outputs); a convolution's (H, H, K, M) gives (H*H*K, H*H*M)."""
    shape = tuple(int(n) for n in kernel_shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"kernel_shape: expected at least 2 positive sizes, got {kernel_shape!r}")
    receptive = math.prod(shape[:-2])
    return receptive * shape[-2], receptive * shape[-1]


def he_std(kernel_shape) -> float:
    """The He standard deviation sqrt(2 / fan_in), for a layer followed by a ReLU."""
    return math.sqrt(2 / fans(kernel_shape)[0])


def glorot_std(kernel_shape) -> float:
    """The Glorot standard deviation sqrt(2 / (fan_in + fan_out)); Keras' default,
    ``glorot_uniform``, draws uniformly from +-sqrt(3) times it."""
    fan_in, fan_out = fans(kernel_shape)
    return math.sqrt(2 / (fan_in + fan_out))
