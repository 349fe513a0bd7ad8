"""Convolution and pooling in NumPy, computed exactly as Keras computes them.

Notation of the course: an image ``x`` of size W x W with K channels, a filter bank ``h``
of size H x H x K x M (Keras' kernel layout), one bias ``b[m]`` per filter, stride ``s``
and padding ``P``. Like Keras, ``conv2d`` computes a cross-correlation (the filter is not
flipped). Arrays may carry a leading batch axis N.

The work is done on zero-copy windows of the input (``sliding_window_view``), so every
function is a few lines of indexing followed by one reduction or one product. These are
the readable reference operations the chapters teach; the fast, batched and threaded
im2col convolution is ``course_utils.im2col.conv2d_im2col``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PADDING_HELP = "'valid', 'same' or a non-negative integer P (pixels added on each side)"


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_padding(padding):
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool) and padding >= 0:
        return int(padding)
    raise ValueError(f"padding: expected {PADDING_HELP}, got {padding!r}")


def same_padding(W: int, H: int, stride: int = 1) -> tuple[int, int]:
    """Pixels Keras adds (before, after) along one axis for ``padding="same"``.

    The total is whatever makes the output ceil(W / s) wide; when it is odd, the extra
    pixel goes after (bottom, right).

    Examples
    --------
    >>> same_padding(28, 3), same_padding(6, 3, stride=2), same_padding(5, 2)
    ((1, 1), (0, 1), (0, 1))
    """
    out = math.ceil(W / stride)
    total = max((out - 1) * stride + H - W, 0)
    return total // 2, total - total // 2


def output_size(W: int, H: int, stride: int = 1, padding=0) -> int:
    """Side W' of the output of an H x H filter (or pooling window) on a W x W image.

    ``W' = floor((W + 2P - H) / s) + 1``; with ``padding="same"``, ``W' = ceil(W / s)``.

    Examples
    --------
    >>> output_size(28, 3), output_size(28, 3, padding="same"), output_size(7, 3, stride=2, padding=1)
    (26, 28, 4)
    """
    W = _positive_int(W, "W")
    H = _positive_int(H, "H")
    stride = _positive_int(stride, "stride")
    padding = _check_padding(padding)
    if padding == "same":
        return math.ceil(W / stride)
    P = 0 if padding == "valid" else padding
    if H > W + 2 * P:
        raise ValueError(f"H: the filter ({H} x {H}) is larger than the padded image "
                         f"(W + 2P = {W} + 2*{P} = {W + 2 * P}); expected H <= {W + 2 * P}")
    return (W + 2 * P - H) // stride + 1


def _as_batch(x, name: str = "x"):
    """Return (x with a batch axis, whether one was added)."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x[np.newaxis], True
    if x.ndim == 4:
        return x, False
    raise ValueError(f"{name}: expected an array of shape (N, W, W, K) or (W, W, K), "
                     f"got {x.ndim} dimensions with shape {x.shape}")


def _float_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def _padding_pairs(sides, H: int, stride: int, padding):
    """(before, after) zeros along rows and along columns, as Keras pads."""
    padding = _check_padding(padding)
    if padding == "same":
        return tuple(same_padding(W, H, stride) for W in sides)
    P = 0 if padding == "valid" else padding
    return (P, P), (P, P)


def pad(x, H: int, stride: int, padding):
    """Zero-pad a batch (N, W, W, K) as Keras would for a window of side H."""
    rows, cols = _padding_pairs(x.shape[1:3], H, stride, padding)
    if rows == cols == (0, 0):
        return x
    return np.pad(x, ((0, 0), rows, cols, (0, 0)))


def windows(x, H: int, stride: int = 1):
    """Zero-copy view of every H x H window of a batch: shape (N, W', W', K, H, H).

    ``windows(x, H, s)[n, i, j, k]`` is the patch ``x[n, s*i : s*i+H, s*j : s*j+H, k]``.
    """
    return sliding_window_view(x, (H, H), axis=(1, 2))[:, ::stride, ::stride]


ACTIVATIONS = (None, "relu")


def check_conv_args(x, h, b, stride, padding, activation=None):
    """Validate conv2d's arguments; return (x batch, h, b, stride, padding, added_batch)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
    x, added = _as_batch(x)
    h = np.asarray(h)
    if h.ndim != 4 or h.shape[0] != h.shape[1]:
        raise ValueError(f"h: expected filters of shape (H, H, K, M), got shape {h.shape}")
    if h.shape[2] != x.shape[3]:
        raise ValueError(f"h: expected K = {x.shape[3]} input channels to match x {x.shape}, "
                         f"got h with shape {h.shape} (K = {h.shape[2]})")
    if b is not None:
        b = np.asarray(b)
        if b.shape != (h.shape[3],):
            raise ValueError(f"b: expected one bias per filter, shape ({h.shape[3]},), got shape {b.shape}")
    stride = _positive_int(stride, "stride")
    padding = _check_padding(padding)
    H = h.shape[0]
    for W in x.shape[1:3]:
        output_size(W, H, stride, padding)  # raises if the filter does not fit
    return x, h, b, stride, padding, added


def conv2d(x, h, b=None, stride: int = 1, padding="valid", activation=None):
    """Multi-channel 2-D convolution (cross-correlation) with one bias per filter.

    ``u[n, i, j, m] = sum_{p, q, k} x[n, s*i + p, s*j + q, k] * h[p, q, k, m] + b[m]``,
    on the input zero-padded as ``padding`` says.

    Parameters
    ----------
    x : array (N, W, W, K) or (W, W, K)
    h : array (H, H, K, M), as ``Conv2D.kernel`` stores it
    b : array (M,), optional
    stride : int >= 1
    padding : "valid", "same" (Keras' convention) or int P
    activation : None, or "relu" for z = max(u, 0) (a Conv2D layer with activation="relu")

    Returns
    -------
    u : array (N, W', W', M), or (W', W', M) if ``x`` had no batch axis

    Examples
    --------
    >>> x = np.arange(16.0).reshape(4, 4, 1)
    >>> conv2d(x, np.ones((2, 2, 1, 1)))[..., 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    x, h, b, stride, padding, added = check_conv_args(x, h, b, stride, padding, activation)
    dtype = _float_dtype(x, h) if b is None else _float_dtype(x, h, b)
    patches = windows(pad(x, h.shape[0], stride, padding), h.shape[0], stride)
    # Contract (K, H, H) of every window against (p, q, k) of every filter.
    u = np.tensordot(patches, h.transpose(2, 0, 1, 3), axes=([3, 4, 5], [0, 1, 2])).astype(dtype, copy=False)
    if b is not None:
        u += b.astype(dtype)
    if activation == "relu":
        np.maximum(u, 0, out=u)
    return u[0] if added else u


def _pool(x, size, stride, reduce):
    x, added = _as_batch(x)
    size = _positive_int(size, "size")
    stride = size if stride is None else _positive_int(stride, "stride")
    for W in x.shape[1:3]:
        if size > W:
            raise ValueError(f"size: the pooling window ({size} x {size}) is larger than the image "
                             f"({x.shape[1]} x {x.shape[2]}); expected size <= {W}")
    out = reduce(windows(x, size, stride), axis=(4, 5))
    if not np.issubdtype(out.dtype, np.floating):
        out = out.astype(np.float64)
    return out[0] if added else out


def max_pool2d(x, size: int = 2, stride: int | None = None):
    """Max pooling over size x size windows, stride defaulting to size, as ``MaxPooling2D``.

    Examples
    --------
    >>> max_pool2d(np.arange(16.0).reshape(4, 4, 1))[..., 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return _pool(x, size, stride, np.max)


def avg_pool2d(x, size: int = 2, stride: int | None = None):
    """Average pooling over size x size windows, stride defaulting to size, as ``AveragePooling2D``.

    Examples
    --------
    >>> avg_pool2d(np.arange(16.0).reshape(4, 4, 1))[..., 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    return _pool(x, size, stride, np.mean)


# --- im2col: the convolution as one matrix product ---------------------------------------
# (The batched, threaded engine built on it, conv2d_im2col, is in course_utils/im2col.py.)


def im2col(x, H: int, stride: int = 1, padding="valid"):
    """Unroll every H x H x K window of ``x`` into one column.

    Returns a matrix of shape (H*H*K, N*W'*W'): column ``(n*W' + i)*W' + j`` is the window
    of output pixel (i, j) of image n, read in the order (p, q, k), the order in which
    ``h.reshape(H*H*K, M)`` lists a Keras kernel's weights. The convolution is then
    ``h.reshape(-1, M).T @ im2col(x, H)``.

    Examples
    --------
    >>> im2col(np.arange(9.0).reshape(3, 3, 1), 2)
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    x, _ = _as_batch(x)
    H = _positive_int(H, "H")
    stride = _positive_int(stride, "stride")
    for W in x.shape[1:3]:
        output_size(W, H, stride, padding)
    patches = windows(pad(x, H, stride, padding), H, stride)            # (N, W', W', K, H, H)
    rows = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, H * H * x.shape[3])
    return rows.T
