"""Checking a gradient with no library: centred finite differences and relative error.

A backward pass can be checked against the forward pass alone. For one weight ``w``::

    dL/dw  ~  (L(w + eps) - L(w - eps)) / (2 eps)

The centred difference is wrong by a term of order ``eps**2`` (the one-sided difference by
one of order ``eps``), and in float64 rounding adds about ``1e-16 / eps``; ``eps = 1e-5``
balances the two, leaving about ten correct digits. Compare by relative error, so that a
small gradient is held to the same standard as a large one.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def centred_difference(loss: Callable[[], float], array: np.ndarray, indices: Sequence[tuple],
                       eps: float = 1e-5) -> np.ndarray:
    """The centred finite-difference estimate of ``dL/d array[index]`` for each index.

    ``loss()`` must compute the loss from ``array`` as it is when called: each entry is
    moved by ``+eps`` and ``-eps`` in place, and put back (exactly) before the next one.

    Parameters
    ----------
    loss : callable with no arguments, returning a float
    array : float64 NumPy array that ``loss`` reads (changed in place, then restored)
    indices : entries of ``array`` to check, each a tuple of ``array.ndim`` integers
    eps : the step, 1e-5 by default (float64)

    Examples
    --------
    >>> w = np.array([1.0, 2.0])
    >>> centred_difference(lambda: float((w ** 3).sum()), w, [(0,), (1,)]).round(6)
    array([ 3., 12.])
    """
    if not isinstance(array, np.ndarray) or array.dtype != np.float64:
        raise ValueError(f"array: expected a float64 NumPy array (float32 rounding swamps a step of "
                         f"{eps:g}), got {type(array).__name__} of dtype {getattr(array, 'dtype', None)}")
    estimates = []
    for index in indices:
        index = tuple(int(i) for i in index)
        kept = array[index]
        try:
            array[index] = kept + eps
            above = loss()
            array[index] = kept - eps
            below = loss()
        finally:
            array[index] = kept
        estimates.append((above - below) / (2 * eps))
    return np.array(estimates)


def relative_error(analytic, numeric, floor: float = 1e-12) -> np.ndarray:
    """``|a - n| / max(|a|, |n|, floor)``, entry by entry: about 1e-7 or less means agreement.

    Examples
    --------
    >>> relative_error(np.array([2.0, 0.0]), np.array([2.5, 0.0]))
    array([0.2, 0. ])
    """
    analytic, numeric = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def random_indices(shape: tuple, count: int, rng) -> list[tuple]:
    """``count`` distinct entries of an array of ``shape``, drawn with ``rng`` (a seed or Generator)."""
    rng = np.random.default_rng(rng)
    flat = rng.choice(int(np.prod(shape)), size=min(count, int(np.prod(shape))), replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]
