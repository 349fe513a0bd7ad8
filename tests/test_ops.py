"""course_utils.ops against Keras layers on many random shapes, and its error messages."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from course_utils.ops import avg_pool2d, conv2d, max_pool2d, output_size, same_padding

RNG = np.random.default_rng(0)


def keras_conv(x, h, b, stride, padding):
    """Keras' Conv2D with the given weights; an int padding goes through ZeroPadding2D."""
    if isinstance(padding, int):
        x = np.asarray(keras.layers.ZeroPadding2D(padding, dtype=x.dtype.name)(x))
        padding = "valid"
    layer = keras.layers.Conv2D(h.shape[3], h.shape[0], strides=stride, padding=padding,
                                use_bias=b is not None, dtype=x.dtype.name)
    layer.build(x.shape)
    layer.set_weights([h] if b is None else [h, b])
    return np.asarray(layer(x))


CONV_CASES = [  # (N, W, K, H, M, stride, padding)
    (2, 8, 1, 3, 4, 1, "valid"),
    (2, 9, 3, 3, 2, 2, "valid"),
    (1, 7, 3, 2, 5, 1, "same"),
    (3, 7, 1, 3, 3, 2, "same"),
    (2, 6, 3, 4, 2, 3, "same"),
    (1, 10, 2, 5, 2, 3, "same"),
    (2, 6, 1, 3, 2, 1, 1),
    (1, 9, 3, 5, 4, 2, 2),
    (1, 5, 1, 5, 1, 1, "valid"),
    (1, 28, 1, 3, 32, 1, "valid"),
]


@pytest.mark.parametrize("N, W, K, H, M, stride, padding", CONV_CASES)
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_conv2d_matches_keras(N, W, K, H, M, stride, padding, dtype, tol):
    x = RNG.normal(size=(N, W, W, K)).astype(dtype)
    h = RNG.normal(size=(H, H, K, M)).astype(dtype)
    b = RNG.normal(size=M).astype(dtype)
    for bias in (b, None):
        ours = conv2d(x, h, bias, stride=stride, padding=padding)
        theirs = keras_conv(x, h, bias, stride, padding)
        assert ours.dtype == dtype
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=tol * H * H * K, rtol=tol)


def test_conv2d_without_batch_axis():
    x, h = RNG.normal(size=(6, 6, 2)), RNG.normal(size=(3, 3, 2, 4))
    np.testing.assert_array_equal(conv2d(x, h), conv2d(x[None], h)[0])


def test_conv2d_on_a_real_digit(mnist):
    (x_train, _), _ = mnist
    x = x_train[:3, :, :, None].astype(np.float32) / 255
    h = RNG.normal(size=(3, 3, 1, 8)).astype(np.float32)
    b = RNG.normal(size=8).astype(np.float32)
    np.testing.assert_allclose(conv2d(x, h, b), keras_conv(x, h, b, 1, "valid"), atol=1e-5)


POOL_CASES = [(4, 2, None), (5, 2, None), (7, 3, None), (7, 3, 2), (9, 2, 3), (6, 1, None), (28, 2, None)]


@pytest.mark.parametrize("W, size, stride", POOL_CASES)
@pytest.mark.parametrize("ours, layer", [(max_pool2d, keras.layers.MaxPooling2D),
                                         (avg_pool2d, keras.layers.AveragePooling2D)])
def test_pooling_matches_keras(W, size, stride, ours, layer):
    x = RNG.normal(size=(2, W, W, 3)).astype(np.float32)
    theirs = np.asarray(layer(pool_size=size, strides=stride)(x))
    got = ours(x, size, stride)
    assert got.shape == theirs.shape
    np.testing.assert_allclose(got, theirs, atol=1e-6)


@pytest.mark.parametrize("W, H, stride, padding",
                         list(itertools.product([5, 7, 8, 28], [1, 2, 3, 5], [1, 2, 3], ["valid", "same"])))
def test_output_size_matches_keras_shapes(W, H, stride, padding):
    layer = keras.layers.Conv2D(1, H, strides=stride, padding=padding)
    expected = layer.compute_output_shape((1, W, W, 1))[1]
    assert output_size(W, H, stride, padding) == expected


@pytest.mark.parametrize("W, H, stride, P", [(5, 3, 1, 1), (7, 3, 2, 1), (6, 5, 3, 2), (4, 3, 1, 2)])
def test_output_size_with_integer_padding_matches_keras(W, H, stride, P):
    padded = keras.layers.ZeroPadding2D(P).compute_output_shape((1, W, W, 1))
    expected = keras.layers.Conv2D(1, H, strides=stride).compute_output_shape(padded)[1]
    assert output_size(W, H, stride, P) == expected


def test_same_padding_puts_the_extra_pixel_after():
    assert same_padding(6, 2) == (0, 1)
    assert same_padding(7, 4, 2) == (1, 2)
    assert same_padding(5, 3) == (1, 1)


@pytest.mark.parametrize("call, fragments", [
    (lambda: conv2d(np.zeros((5, 5, 2)), np.zeros((3, 3, 1, 4))), ["h:", "K = 2", "(3, 3, 1, 4)"]),
    (lambda: conv2d(np.zeros((3, 3, 1)), np.zeros((5, 5, 1, 1))), ["H:", "larger than the padded image"]),
    (lambda: conv2d(np.zeros((2, 2, 1)), np.zeros((5, 5, 1, 1)), padding=1), ["H:", "W + 2P"]),
    (lambda: conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 1)), stride=0), ["stride:", "got 0"]),
    (lambda: conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 1)), padding="full"), ["padding:", "'full'"]),
    (lambda: conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 1)), padding=-1), ["padding:", "-1"]),
    (lambda: conv2d(np.zeros((5, 5)), np.zeros((3, 3, 1, 1))), ["x:", "2 dimensions"]),
    (lambda: conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 1))), ["h:", "(H, H, K, M)"]),
    (lambda: conv2d(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)), b=np.zeros(3)), ["b:", "(2,)"]),
    (lambda: max_pool2d(np.zeros((3, 3, 1)), size=4), ["size:", "larger than the image"]),
    (lambda: avg_pool2d(np.zeros((4, 4, 1)), stride=0), ["stride:", "got 0"]),
    (lambda: max_pool2d(np.zeros((4, 4)), size=2), ["x:", "2 dimensions"]),
    (lambda: output_size(4, 5), ["H:", "larger"]),
    (lambda: output_size(4, 2, padding="full"), ["padding:"]),
    (lambda: output_size(4, 2, stride=1.5), ["stride:", "1.5"]),
])
def test_errors_name_argument_expected_and_given(call, fragments):
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
