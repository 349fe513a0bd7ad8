"""The backward pass of the source CNN's layers, its loss and its optimizer, in NumPy.

Notation of the course: a layer computes ``u`` (before the activation) and ``z`` (after
it); the loss is ``L``; code names ``du``, ``dz``, ``dh``, ``db``, ``dx`` stand for
dL/du, dL/dz, dL/dh, dL/db, dL/dx and always have the shape of the array they are the
gradient of. Images are batches (N, W, W, K) as in :mod:`course_utils.ops`; a dense layer
computes ``u = z V + b`` with V of shape (inputs, outputs), Keras' kernel layout.

Every function is pure: it returns new arrays and changes none of its arguments. Each
is proved against TensorFlow's automatic differentiation (``tf.GradientTape``) or the
Keras layer, loss or optimizer it mirrors, in ``tests/test_backprop.py``.
"""

from __future__ import annotations

import numbers

import numpy as np

from course_utils import ops

EPSILON = 1e-7   # keras.backend.epsilon(): the clipping of probabilities in the loss


# --- loss: softmax and categorical cross-entropy ----------------------------------------

def softmax(u, axis: int = -1):
    """Probabilities ``p_c = exp(u_c) / sum_c' exp(u_c')`` along ``axis``.

    The largest logit is subtracted first, which changes nothing mathematically and keeps
    ``exp`` from overflowing.

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    u = np.asarray(u)
    if not np.issubdtype(u.dtype, np.floating):
        u = u.astype(np.float64)
    e = np.exp(u - u.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _check_same_shape(p, y, names=("p", "y")):
    p, y = np.asarray(p), np.asarray(y)
    if p.shape != y.shape or p.ndim != 2:
        raise ValueError(f"{names[0]}, {names[1]}: expected two arrays of the same shape (N, classes), "
                         f"got {names[0]} with shape {p.shape} and {names[1]} with shape {y.shape}")
    return p, y


def cross_entropy(p, y, per_example: bool = False):
    """Categorical cross-entropy ``L = -sum_c y_c log p_c``, averaged over the batch.

    Computed as ``keras.losses.CategoricalCrossentropy()`` computes it from probabilities:
    each row of ``p`` is renormalised to sum 1 and clipped to [1e-7, 1 - 1e-7] before the
    logarithm. ``per_example=True`` returns the N losses instead of their mean.

    Parameters
    ----------
    p : array (N, classes), probabilities (a softmax output)
    y : array (N, classes), one-hot targets

    Examples
    --------
    >>> round(float(cross_entropy(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]]))), 4)
    0.2877
    """
    p, y = _check_same_shape(p, y)
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)
    losses = -(y * np.log(p)).sum(axis=-1)
    return losses if per_example else losses.mean()


def softmax_cross_entropy_grad(p, y):
    """dL/du of the batch-mean cross-entropy of ``p = softmax(u)``: ``(p - y) / N``.

    For one example the gradient with respect to the logits is simply ``p - y``; the
    mean over a batch of N divides it by N.

    Examples
    --------
    >>> softmax_cross_entropy_grad(np.array([[0.25, 0.75]]), np.array([[0.0, 1.0]]))
    array([[ 0.25, -0.25]])
    """
    p, y = _check_same_shape(p, y)
    return (p - y) / len(p)


# --- dense layer and ReLU -----------------------------------------------------------------

def _check_dense(z, V, name="z"):
    z, V = np.asarray(z), np.asarray(V)
    if z.ndim != 2:
        raise ValueError(f"{name}: expected an array of shape (N, inputs), got shape {z.shape}")
    if V.ndim != 2 or V.shape[0] != z.shape[1]:
        raise ValueError(f"V: expected weights of shape ({z.shape[1]}, outputs) to match {name} {z.shape}, "
                         f"got shape {V.shape}")
    return z, V


def dense_forward(z, V, b):
    """A dense layer, ``u = z V + b``: z (N, inputs), V (inputs, outputs), b (outputs,).

    Examples
    --------
    >>> dense_forward(np.ones((1, 2)), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, 0.0]))
    array([[4.5, 6. ]])
    """
    z, V = _check_dense(z, V)
    return z @ V + b


def dense_backward(z, V, du):
    """Gradients of a dense layer ``u = z V + b``: returns ``(dz, dV, db)``.

    ``dz = du V^T``, ``dV = z^T du`` (a sum over the batch), ``db = sum_n du``.

    Examples
    --------
    >>> dz, dV, db = dense_backward(np.array([[1.0, 2.0]]), np.eye(2), np.array([[1.0, -1.0]]))
    >>> dz, dV, db
    (array([[ 1., -1.]]), array([[ 1., -1.],
           [ 2., -2.]]), array([ 1., -1.]))
    """
    z, V = _check_dense(z, V)
    du = np.asarray(du)
    if du.shape != (z.shape[0], V.shape[1]):
        raise ValueError(f"du: expected shape {(z.shape[0], V.shape[1])} (N, outputs), got shape {du.shape}")
    return du @ V.T, z.T @ du, du.sum(axis=0)


def relu(u):
    """``z = max(u, 0)``.

    Examples
    --------
    >>> relu(np.array([-1.0, 0.0, 2.0]))
    array([0., 0., 2.])
    """
    return np.maximum(u, 0)


def relu_backward(u, dz):
    """dL/du of ``z = max(u, 0)``: ``dz`` where ``u > 0``, else 0 (also at u = 0, as TensorFlow).

    Examples
    --------
    >>> relu_backward(np.array([-1.0, 0.0, 2.0]), np.array([5.0, 5.0, 5.0]))
    array([0., 0., 5.])
    """
    u, dz = np.asarray(u), np.asarray(dz)
    if u.shape != dz.shape:
        raise ValueError(f"dz: expected the shape of u {u.shape}, got shape {dz.shape}")
    return np.where(u > 0, dz, 0).astype(np.result_type(dz, np.float32), copy=False)


# --- dropout ------------------------------------------------------------------------------

def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"rate: expected the fraction d of units dropped, 0 <= d < 1, got {rate!r}")
    return float(rate)


def dropout(z, rate: float, training: bool = False, rng=None):
    """Inverted dropout, as ``keras.layers.Dropout(rate)``: returns ``(output, mask)``.

    While training, each unit is kept with probability 1 - d and the kept ones are
    multiplied by 1 / (1 - d), so the expected output equals the input; at inference
    (``training=False``) the layer is the identity. ``mask`` holds the factor each unit
    was multiplied by (0 or 1 / (1 - d); all ones at inference), which is also the
    backward pass: ``dz_in = dz_out * mask``.

    Parameters
    ----------
    z : array, any shape
    rate : float, the fraction r of units dropped (0 <= r < 1)
    training : bool
    rng : numpy.random.Generator or int seed, used only while training

    Examples
    --------
    >>> out, mask = dropout(np.ones(6), 0.5, training=True, rng=0)
    >>> out
    array([2., 0., 0., 0., 2., 2.])
    >>> dropout(np.ones(3), 0.5)[0]
    array([1., 1., 1.])
    """
    rate = _check_rate(rate)
    z = np.asarray(z, dtype=np.result_type(z, np.float32))
    if not training or rate == 0:
        return z.copy(), np.ones_like(z)
    rng = np.random.default_rng(rng)
    keep = rng.random(z.shape) >= rate
    mask = (keep / (1 - rate)).astype(z.dtype)
    return z * mask, mask


def dropout_backward(dz, mask):
    """dL/dz of dropout's input: the output gradient times the mask :func:`dropout` returned.

    Examples
    --------
    >>> dropout_backward(np.array([1.0, 1.0]), np.array([2.0, 0.0]))
    array([2., 0.])
    """
    dz, mask = np.asarray(dz), np.asarray(mask)
    if dz.shape != mask.shape:
        raise ValueError(f"mask: expected the shape of dz {dz.shape}, got shape {mask.shape}")
    return dz * mask


# --- convolution --------------------------------------------------------------------------

def _check_du(du, x, h, stride, padding, name="du"):
    du = np.asarray(du)
    shape = (x.shape[0], ops.output_size(x.shape[1], h.shape[0], stride, padding),
             ops.output_size(x.shape[2], h.shape[0], stride, padding), h.shape[3])
    if du.shape != shape:
        raise ValueError(f"{name}: expected the shape of the layer's output, (N, W', W', M) = {shape}, "
                         f"got shape {du.shape}")
    return du


def conv2d_filter_gradient(x, du, H: int, stride: int = 1, padding="valid"):
    """dL/dh of ``u = conv2d(x, h)``: the correlation of the input with dL/du.

    ``dh[p, q, k, m] = sum_{n, i, j} x[n, s*i + p, s*j + q, k] * du[n, i, j, m]`` on the padded
    input: every weight collects the input pixels it multiplied, weighted by the gradient
    of the output they produced. Arguments as :func:`conv2d_backward`; returns (H, H, K, M).

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> conv2d_filter_gradient(x, np.ones((1, 2, 2, 1)), 2)[..., 0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    H = ops._positive_int(H, "H")
    x, added = ops._as_batch(x)
    du = np.asarray(du)
    if du.ndim == 3 and added:
        du = du[np.newaxis]
    if du.ndim != 4:
        raise ValueError(f"du: expected an array of shape (N, W', W', M), got shape {du.shape}")
    _check_du(du, x, np.empty((H, H, x.shape[3], du.shape[3])), ops._positive_int(stride, "stride"), padding)
    patches = ops.windows(ops.pad(x, H, stride, padding), H, stride)    # (N, W', W', K, H, H)
    dh = np.tensordot(patches, du, axes=([0, 1, 2], [0, 1, 2]))         # (K, H, H, M)
    return dh.transpose(1, 2, 0, 3)


def conv2d_input_gradient(du, h, x_shape, stride: int = 1, padding="valid"):
    """dL/dx of ``u = conv2d(x, h)``: the full convolution of dL/du with the flipped filter.

    Zeros are first inserted between the rows and columns of ``du`` (s - 1 of them, for
    stride s), the result is padded with H - 1 zeros on every side and cross-correlated
    with the filter turned by a half turn (``h[::-1, ::-1]``, input and output channels
    swapped). Rows and columns of the padded input that no window reached get zero, and
    the padding is cut off again. Returns an array of shape ``x_shape``.

    Examples
    --------
    >>> dx = conv2d_input_gradient(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)), (1, 3, 3, 1))
    >>> dx[0, ..., 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    h = np.asarray(h)
    x_shape = tuple(x_shape)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape: expected (N, W, W, K), got {x_shape}")
    x, h, _, stride, padding, _ = ops.check_conv_args(np.empty(x_shape, dtype=np.bool_), h, None, stride, padding)
    du = _check_du(du, x, h, stride, padding)
    H = h.shape[0]
    (top, bottom), (left, right) = ops._padding_pairs(x_shape[1:3], H, stride, padding)
    N, rows, cols, M = du.shape
    dilated = np.zeros((N, stride * (rows - 1) + 1, stride * (cols - 1) + 1, M), dtype=ops._float_dtype(du, h))
    dilated[:, ::stride, ::stride] = du
    full = ops.conv2d(np.pad(dilated, ((0, 0), (H - 1, H - 1), (H - 1, H - 1), (0, 0))),
                      h[::-1, ::-1].transpose(0, 1, 3, 2))                # (N, s(W'-1)+H, ..., K)
    padded = np.zeros((N, x_shape[1] + top + bottom, x_shape[2] + left + right, x_shape[3]), dtype=full.dtype)
    padded[:, :full.shape[1], :full.shape[2]] = full   # rows beyond the last window get no gradient
    return padded[:, top:top + x_shape[1], left:left + x_shape[2]]


def conv2d_backward(x, h, du, stride: int = 1, padding="valid"):
    """Gradients of ``u = conv2d(x, h, b, stride, padding)``: returns ``(dx, dh, db)``.

    Same argument conventions, shape checks and errors as :func:`course_utils.ops.conv2d`,
    plus ``du`` = dL/du of the output's shape. ``dx`` is the full convolution of ``du``
    with the flipped filter (:func:`conv2d_input_gradient`), ``dh`` the correlation of
    the input with ``du`` (:func:`conv2d_filter_gradient`), ``db`` the sum of ``du``
    over the batch and every position.

    Parameters
    ----------
    x : array (N, W, W, K) or (W, W, K)
    h : array (H, H, K, M)
    du : array (N, W', W', M), or (W', W', M) if ``x`` has no batch axis
    stride : int >= 1
    padding : "valid", "same" or int P

    Returns
    -------
    dx : array of x's shape
    dh : array (H, H, K, M)
    db : array (M,)

    Examples
    --------
    >>> x, h = np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 5))
    >>> dx, dh, db = conv2d_backward(x, h, np.ones((1, 2, 2, 5)))
    >>> dx.shape, dh.shape, db
    ((1, 4, 4, 2), (3, 3, 2, 5), array([4., 4., 4., 4., 4.]))
    """
    x, h, _, stride, padding, added = ops.check_conv_args(x, h, None, stride, padding)
    du = np.asarray(du)
    if added and du.ndim == 3:
        du = du[np.newaxis]
    du = _check_du(du, x, h, stride, padding)
    dx = conv2d_input_gradient(du, h, x.shape, stride, padding)
    dh = conv2d_filter_gradient(x, du, h.shape[0], stride, padding)
    db = du.sum(axis=(0, 1, 2))
    return (dx[0] if added else dx), dh, db


# --- pooling ------------------------------------------------------------------------------

def _check_pool(x, dz, size, stride):
    x, added = ops._as_batch(x)
    size = ops._positive_int(size, "size")
    stride = size if stride is None else ops._positive_int(stride, "stride")
    for W in x.shape[1:3]:
        if size > W:
            raise ValueError(f"size: the pooling window ({size} x {size}) is larger than the image "
                             f"({x.shape[1]} x {x.shape[2]}); expected size <= {W}")
    dz = np.asarray(dz)
    if added and dz.ndim == 3:
        dz = dz[np.newaxis]
    shape = (x.shape[0], (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1, x.shape[3])
    if dz.shape != shape:
        raise ValueError(f"dz: expected the shape of the pooled output, (N, W', W', K) = {shape}, "
                         f"got shape {dz.shape}")
    return x, dz, size, stride, added


def _scatter(dx, size, stride, share):
    """Add ``share(p, q)`` (N, W', W', K) onto the pixels at offset (p, q) of every window."""
    rows, cols = share(0, 0).shape[1:3]
    for p in range(size):
        for q in range(size):
            dx[:, p:p + stride * (rows - 1) + 1:stride, q:q + stride * (cols - 1) + 1:stride] += share(p, q)
    return dx


def max_pool2d_backward(x, dz, size: int = 2, stride: int | None = None):
    """dL/dx of ``z = max_pool2d(x, size, stride)``: each window's gradient goes to its maximum.

    The pixel that won a window receives that window's gradient; every other pixel of the
    window receives nothing. When several pixels tie, the first in reading order (row by
    row) wins, as in TensorFlow. Overlapping windows (stride < size) add their gradients;
    rows and columns that no window reads (a size that does not divide W, Keras' "valid"
    pooling) get zero.

    Parameters
    ----------
    x : array (N, W, W, K) or (W, W, K), the pooling layer's input
    dz : array of the pooled output's shape, dL/dz
    size, stride : as :func:`course_utils.ops.max_pool2d` (stride defaults to size)

    Returns
    -------
    dx : array of x's shape

    Examples
    --------
    >>> x = np.array([[1.0, 3.0], [5.0, 2.0]]).reshape(2, 2, 1)
    >>> max_pool2d_backward(x, np.array([[[10.0]]]))[..., 0]
    array([[ 0.,  0.],
           [10.,  0.]])
    """
    x, dz, size, stride, added = _check_pool(x, dz, size, stride)
    flat = ops.windows(x, size, stride)
    flat = flat.reshape(*flat.shape[:4], size * size)
    winner = flat.argmax(axis=-1)                                      # (N, W', W', K)
    dx = np.zeros(x.shape, dtype=ops._float_dtype(dz))
    _scatter(dx, size, stride, lambda p, q: np.where(winner == p * size + q, dz, 0))
    return dx[0] if added else dx


def avg_pool2d_backward(x, dz, size: int = 2, stride: int | None = None):
    """dL/dx of ``z = avg_pool2d(x, size, stride)``: each window's gradient spread evenly.

    Every pixel of a window receives 1 / size^2 of that window's gradient; overlapping
    windows add, unread rows and columns get zero. Arguments as
    :func:`max_pool2d_backward` (only x's shape is used).

    Examples
    --------
    >>> avg_pool2d_backward(np.zeros((3, 3, 1)), np.array([[[8.0]]]))[..., 0]
    array([[2., 2., 0.],
           [2., 2., 0.],
           [0., 0., 0.]])
    """
    x, dz, size, stride, added = _check_pool(x, dz, size, stride)
    dx = np.zeros(x.shape, dtype=ops._float_dtype(dz))
    share = dz / (size * size)
    _scatter(dx, size, stride, lambda p, q: share)
    return dx[0] if added else dx


# --- the optimizer ------------------------------------------------------------------------

def same_shape(v, g, **state):
    """``(v, g)`` as arrays, after checking that the gradient and every piece of an
    optimizer's state have the weights' shape (shared by course_utils.optimizers)."""
    v, g = np.asarray(v), np.asarray(g)
    if g.shape != v.shape:
        raise ValueError(f"g: expected the gradient to have the shape of v {v.shape}, got shape {g.shape}")
    for name, value in state.items():
        if np.shape(value) != v.shape:
            raise ValueError(f"{name}: expected shape {v.shape} (that of v), got shape {np.shape(value)}")
    return v, g


def adadelta_step(v, g, accumulated_grad, accumulated_delta, learning_rate: float = 1.0,
                  rho: float = 0.95, eps: float = 1e-7):
    """One update of a weight array ``v`` by Adadelta, exactly as Keras 3 computes it.

    With ``E[g^2]`` (``accumulated_grad``) and ``E[dv^2]`` (``accumulated_delta``), both
    zero before the first step::

        E[g^2]  <- rho E[g^2] + (1 - rho) g^2
        dv       = -sqrt(E[dv^2] + eps) / sqrt(E[g^2] + eps) * g
        E[dv^2] <- rho E[dv^2] + (1 - rho) dv^2
        v       <- v + eta dv

    Returns ``(v, accumulated_grad, accumulated_delta)``, all new arrays. Keras 3's
    defaults are eta = 0.001, rho = 0.95, eps = 1e-7; the source used eta = 1.0.

    Examples
    --------
    >>> v, Eg, Ed = adadelta_step(np.array([1.0]), np.array([0.5]), np.zeros(1), np.zeros(1))
    >>> v.round(6), Eg
    (array([0.998586]), array([0.0125]))
    """
    v, g = same_shape(v, g, accumulated_grad=accumulated_grad, accumulated_delta=accumulated_delta)
    accumulated_grad = rho * accumulated_grad + (1 - rho) * g * g
    delta = -np.sqrt(accumulated_delta + eps) * g / np.sqrt(accumulated_grad + eps)
    accumulated_delta = rho * accumulated_delta + (1 - rho) * delta * delta
    return v + learning_rate * delta, accumulated_grad, accumulated_delta
