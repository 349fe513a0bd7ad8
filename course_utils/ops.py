"""Convolution and pooling in NumPy, computed exactly as Keras computes them.

Notation of the course: an image ``x`` of size W x W with K channels, a filter bank ``h``
of size H x H x K x M (Keras' kernel layout), one bias ``b[m]`` per filter, stride ``s``
and padding ``P``. Like Keras, ``conv2d`` computes a cross-correlation (the filter is not
flipped). Arrays may carry a leading batch axis N.

The work is done on zero-copy windows of the input (``sliding_window_view``), so every
function is a few lines of indexing followed by one reduction or one product.
"""

from __future__ import annotations

import math
import numbers
import os
import threading
from typing import NamedTuple
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

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

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes of scratch memory conv2d_im2col may use
# Batches of about this much scratch memory run as fast as larger ones (measured with
# benchmarks/im2col.py --batches: 2 to 41 conv2 images alike, 1 image slower) while their
# columns still fit in the processor's cache and the scratch memory stays a few MB.
_CACHE_BLOCK_BYTES = 2 * 2**20
# Allowance for NumPy's own small buffers (strided copies iterate through a buffer).
_OVERHEAD_BYTES = 64 * 2**10


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


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _batching(images: int, per_image: int, usable: int) -> tuple[int, int]:
    """Images per batch and threads: one thread per core, never more threads than
    batches, and every thread's buffers together within ``usable`` bytes."""
    batch = max(1, min(images, usable // per_image, _CACHE_BLOCK_BYTES // per_image))
    workers = min(_usable_cores(), -(-images // batch), usable // per_image)
    if workers > 1:
        batch = min(batch, usable // workers // per_image)
    return batch, max(1, workers)


def _in_threads(work, items, workers: int) -> None:
    """Run ``work(share)`` in ``workers`` threads, BLAS single-threaded meanwhile (the threads
    already keep every core busy); re-raises the first error. The shares draw from one queue
    of items, so a thread slowed by the machine's other work takes fewer of them."""
    lock, queue = threading.Lock(), iter(items)

    def share():
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            yield item

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(work, share()) for _ in range(workers)]:
            future.result()


def _padded_width(W: int, H: int, stride: int, padding) -> int:
    before, after = _padding_pairs((W, W), H, stride, padding)[0]
    return W + before + after


def im2col_bytes_per_image(x_shape, h_shape, stride: int = 1, padding="valid", itemsize: int = 4,
                           bias: bool = False, activation=None) -> int:
    """Scratch bytes one image needs in :func:`conv2d_im2col`: its columns (with a column
    of ones for the bias, if there is one), its zero-padded copy when there is padding,
    and for a ReLU one image's output of zeros (counted per image, though it is shared).

    Examples
    --------
    >>> im2col_bytes_per_image((1, 26, 26, 32), (3, 3, 32, 64))   # conv2 of the source CNN
    663552
    """
    W, K, H = x_shape[1], x_shape[3], h_shape[0]
    W_out = output_size(W, H, stride, padding)
    W_pad = _padded_width(W, H, stride, padding)
    padded = 0 if W_pad == W else W_pad * W_pad * K
    zeros = W_out * W_out * h_shape[3] if activation == "relu" else 0
    return (W_out * W_out * (H * H * K + bias) + padded + zeros) * itemsize


class BatchPlan(NamedTuple):
    """How :func:`conv2d_im2col` splits its work: images per batch, threads, and the
    scratch bytes one image needs. Together the threads use ``scratch_bytes``."""

    images: int
    threads: int
    per_image: int

    @property
    def scratch_bytes(self) -> int:
        return self.images * self.threads * self.per_image


def batch_plan(x_shape, h_shape, stride: int = 1, padding="valid", itemsize: int = 4, bias: bool = False,
               activation=None, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> BatchPlan:
    """The batches and threads :func:`conv2d_im2col` uses for inputs of shape ``x_shape``
    (N, W, W, K), decided before anything is allocated. Batches are as large as the
    processor's cache holds (``_CACHE_BLOCK_BYTES`` of columns), never beyond the budget.

    Examples
    --------
    >>> plan = batch_plan((10000, 26, 26, 32), (3, 3, 32, 64), bias=True, activation="relu")   # conv2
    >>> plan.images, plan.scratch_bytes <= DEFAULT_MEMORY_BUDGET
    (2, True)
    """
    if len(x_shape) != 4 or len(h_shape) != 4:
        raise ValueError(f"x_shape, h_shape: expected (N, W, W, K) and (H, H, K, M), got {tuple(x_shape)} "
                         f"and {tuple(h_shape)}")
    memory_budget = _positive_int(memory_budget, "memory_budget")
    per_image = im2col_bytes_per_image(x_shape, h_shape, stride, padding, itemsize, bias, activation)
    usable = memory_budget - _OVERHEAD_BYTES
    if per_image > usable:
        raise ValueError(f"memory_budget: one image needs {per_image:,d} bytes of scratch memory plus "
                         f"{_OVERHEAD_BYTES:,d} for NumPy's buffers, got a budget of {memory_budget:,d}; "
                         f"expected at least {per_image + _OVERHEAD_BYTES:,d}")
    return BatchPlan(*_batching(x_shape[0], per_image, usable), per_image)


def conv2d_im2col(x, h, b=None, stride: int = 1, padding="valid", activation=None,
                  memory_budget: int = DEFAULT_MEMORY_BUDGET):
    """:func:`conv2d` computed as one matrix product per batch of images, in bounded memory.

    The images are processed in small batches (:func:`batch_plan`, decided before anything
    is allocated). For each batch the windows are read through a zero-copy view of the
    input, copied once into a reused column buffer (im2col), beside a column of ones that
    carries the bias, and multiplied with the filters straight into the output array. The
    batches are just large enough for the product to run at full speed and small enough
    for the columns to stay in the processor's cache between the copy and the product;
    the scratch memory (column buffers, padded batches, the ReLU's zeros) never exceeds
    ``memory_budget`` bytes (an integer). With several CPU cores, threads (one per core, each with its own buffers and a
    single-threaded matrix product) take batches from a common queue: one thread copies
    windows while another multiplies, instead of the cores idling during the copy.

    Same arguments, errors and results as :func:`conv2d`.

    Examples
    --------
    >>> x, h = np.ones((2, 5, 5, 3)), np.ones((3, 3, 3, 4))
    >>> np.array_equal(conv2d_im2col(x, h, stride=2), conv2d(x, h, stride=2))
    True
    """
    x, h, b, stride, padding, added = check_conv_args(x, h, b, stride, padding, activation)
    dtype = _float_dtype(x, h) if b is None else _float_dtype(x, h, b)
    x = x.astype(dtype, copy=False)
    H, K, M = h.shape[0], h.shape[2], h.shape[3]
    W, W_out = x.shape[1], output_size(x.shape[1], H, stride, padding)
    batch, workers, _ = batch_plan(x.shape, h.shape, stride, padding, dtype.itemsize, b is not None,
                                   activation, memory_budget)
    # The bias rides in the product: a row of biases under the filters, a column of ones
    # beside the windows (one multiply-add more per output instead of a pass over it).
    h_matrix = h.reshape(H * H * K, M).astype(dtype, copy=False)
    if b is not None:
        h_matrix = np.vstack([h_matrix, b.astype(dtype)[None]])
    rows_per_image = W_out * W_out
    u = np.empty((len(x), W_out, W_out, M), dtype=dtype)
    # ReLU as a maximum with a whole image of zeros: against the scalar 0, np.maximum
    # takes about four times as long (NumPy 2.4: 110 against 29 microseconds per block).
    zeros = np.zeros(rows_per_image * M, dtype=dtype) if activation == "relu" else None
    (top, _), (left, _) = _padding_pairs(x.shape[1:3], H, stride, padding)
    W_pad = _padded_width(W, H, stride, padding)

    def convolve(starts):
        columns = np.ones((batch * rows_per_image, len(h_matrix)), dtype=dtype)   # reused
        windows_part = columns[:, :H * H * K].reshape(batch, W_out, W_out, H, H, K)
        # Padding happens in a reused zero-bordered buffer: np.pad would allocate per batch.
        padded = None if W_pad == W else np.zeros((batch, W_pad, W_pad, K), dtype=dtype)
        for start in starts:
            n = min(batch, len(x) - start)
            if padded is None:
                source = x[start:start + n]
            else:
                padded[:n, top:top + W, left:left + W] = x[start:start + n]
                source = padded[:n]
            np.copyto(windows_part[:n], windows(source, H, stride).transpose(0, 1, 2, 4, 5, 3))
            block = u[start:start + n].reshape(n * rows_per_image, M)
            np.matmul(columns[:n * rows_per_image], h_matrix, out=block)
            if zeros is not None:   # ReLU while the block is still in cache
                images = block.reshape(n, -1)
                np.maximum(images, zeros, out=images)

    starts = range(0, len(x), batch)
    if workers == 1:
        convolve(starts)
    else:
        _in_threads(convolve, starts, workers)
    return u[0] if added else u
