"""The backward pass of course_utils.backprop against TensorFlow's automatic
differentiation and against the Keras layers, loss and optimizer it mirrors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras

from course_utils import backprop, ops
from course_utils.gradient_check import centred_difference, random_indices, relative_error


@pytest.fixture
def rng(request):
    """A generator seeded by the test's own name: inputs do not depend on which tests ran before."""
    return np.random.default_rng(list(request.node.name.encode()))


def tape_gradients(function, *arrays):
    """Gradients of ``function(*tensors)`` (a scalar) with respect to every array, in float64."""
    tensors = [tf.Variable(np.asarray(a, dtype=np.float64)) for a in arrays]
    with tf.GradientTape() as tape:
        loss = function(*tensors)
    return [g.numpy() for g in tape.gradient(loss, tensors)]


def loss_gradient_keras(u, y):
    """dL/du of Keras' categorical cross-entropy of its own softmax (float32, as in training)."""
    u = tf.Variable(np.asarray(u, dtype=np.float32))
    with tf.GradientTape() as tape:
        loss = keras.losses.CategoricalCrossentropy()(y, keras.activations.softmax(u))
    return tape.gradient(loss, u).numpy()


def tf_padding(x, H, stride, padding):
    """TensorFlow's padding argument for the course's padding convention."""
    if padding == "same":
        return "SAME"
    if padding == "valid":
        return "VALID"
    return [[0, 0], [padding, padding], [padding, padding], [0, 0]]


# --- convolution --------------------------------------------------------------------------

CONV_CASES = [  # N, W, K, M, H, stride, padding
    (2, 6, 1, 1, 3, 1, "valid"),
    (2, 28, 1, 8, 3, 1, "valid"),          # conv1 of the source, fewer filters
    (1, 9, 8, 3, 3, 2, "valid"),            # stride 2 on an odd side: the last row is never read
    (3, 7, 3, 5, 3, 2, "same"),             # "same" with stride: the extra zero goes after
    (2, 8, 4, 2, 2, 1, "same"),             # even filter: one zero after, none before
    (1, 10, 2, 7, 4, 3, "same"),
    (2, 6, 5, 4, 3, 1, 1),
    (1, 7, 2, 6, 3, 2, 2),
    (2, 5, 6, 1, 5, 1, 2),
    (1, 11, 7, 8, 3, 3, 0),
]


@pytest.mark.parametrize("N, W, K, M, H, stride, padding", CONV_CASES)
def test_conv2d_backward_matches_gradient_tape(N, W, K, M, H, stride, padding, rng):
    x, h, b = rng.normal(size=(N, W, W, K)), rng.normal(size=(H, H, K, M)), rng.normal(size=M)
    u = ops.conv2d(x, h, b, stride, padding)
    du = rng.normal(size=u.shape)                       # the loss L = sum(u * du)

    def loss(x, h, b):
        u = tf.nn.conv2d(x, h, strides=stride, padding=tf_padding(x, H, stride, padding)) + b
        assert u.shape == du.shape
        return tf.reduce_sum(u * du)

    expected = tape_gradients(loss, x, h, b)
    got = backprop.conv2d_backward(x, h, du, stride, padding)
    for name, e, g in zip(("dx", "dh", "db"), expected, got):
        assert g.shape == e.shape, name
        np.testing.assert_allclose(g, e, atol=1e-10, err_msg=name)


def test_conv2d_backward_without_batch_axis(rng):
    x, h = rng.normal(size=(6, 6, 2)), rng.normal(size=(3, 3, 2, 4))
    du = rng.normal(size=(4, 4, 4))
    dx, dh, db = backprop.conv2d_backward(x, h, du)
    bx, bh, bb = backprop.conv2d_backward(x[None], h, du[None])
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx, bx[0])
    np.testing.assert_array_equal(dh, bh)
    np.testing.assert_array_equal(db, bb)
    np.testing.assert_allclose(db, du.sum(axis=(0, 1)))       # eq-conv-db: a sum over positions


def test_input_gradient_is_full_convolution_with_flipped_filter(rng):
    """Stride 1, no padding: dx is conv2d of du, zero-padded by H - 1, with the flipped filter."""
    h = rng.normal(size=(3, 3, 2, 4))
    du = rng.normal(size=(1, 5, 5, 4))
    full = ops.conv2d(np.pad(du, ((0, 0), (2, 2), (2, 2), (0, 0))), h[::-1, ::-1].transpose(0, 1, 3, 2))
    np.testing.assert_allclose(backprop.conv2d_input_gradient(du, h, (1, 7, 7, 2)), full)


BAD_CONV = [  # arguments ops.conv2d rejects; conv2d_backward must reject them with the same words
    dict(x=np.ones((5, 5)), h=np.ones((3, 3, 1, 1))),
    dict(x=np.ones((1, 5, 5, 1)), h=np.ones((3, 3, 1))),
    dict(x=np.ones((1, 5, 5, 2)), h=np.ones((3, 3, 1, 1))),
    dict(x=np.ones((1, 5, 5, 1)), h=np.ones((7, 7, 1, 1))),
    dict(x=np.ones((1, 5, 5, 1)), h=np.ones((3, 3, 1, 1)), stride=0),
    dict(x=np.ones((1, 5, 5, 1)), h=np.ones((3, 3, 1, 1)), padding="full"),
    dict(x=np.ones((1, 5, 5, 1)), h=np.ones((3, 3, 1, 1)), padding=-1),
]


@pytest.mark.parametrize("kwargs", BAD_CONV)
def test_conv2d_backward_errors_are_those_of_conv2d(kwargs):
    with pytest.raises(ValueError) as forward:
        ops.conv2d(**kwargs)
    with pytest.raises(ValueError) as backward:
        backprop.conv2d_backward(du=np.ones((1, 3, 3, 1)), **kwargs)
    assert str(backward.value) == str(forward.value)


def test_conv2d_backward_rejects_du_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"du: expected the shape of the layer's output, \(N, W', W', M\) = "
                                         r"\(2, 3, 3, 4\), got shape \(2, 4, 4, 4\)"):
        backprop.conv2d_backward(np.ones((2, 5, 5, 1)), np.ones((3, 3, 1, 4)), np.ones((2, 4, 4, 4)))


# --- pooling ------------------------------------------------------------------------------

POOL_CASES = [  # N, W, K, size, stride
    (2, 24, 8, 2, None),     # the source's pool on fewer channels
    (1, 5, 3, 2, None),      # odd side: the last row and column are never read
    (2, 7, 1, 3, None),      # 7 = 2 * 3 + 1
    (1, 7, 2, 3, 2),         # overlapping windows
    (2, 6, 4, 2, 1),
    (1, 9, 5, 4, 3),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("N, W, K, size, stride", POOL_CASES)
def test_pool_backward_matches_gradient_tape(kind, N, W, K, size, stride, rng):
    x = rng.normal(size=(N, W, W, K))
    pooled = (ops.max_pool2d if kind == "max" else ops.avg_pool2d)(x, size, stride)
    dz = rng.normal(size=pooled.shape)
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d     # Keras' layers call these, in float32
    (expected,) = tape_gradients(lambda x: tf.reduce_sum(pool(x, size, stride or size, "VALID") * dz), x)
    backward = backprop.max_pool2d_backward if kind == "max" else backprop.avg_pool2d_backward
    got = backward(x, dz, size, stride)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_max_pool_backward_ties_go_to_the_first_maximum_as_in_tensorflow(rng):
    x = rng.integers(0, 2, size=(2, 6, 6, 3)).astype(float)    # many ties, as after a ReLU
    dz = rng.normal(size=(2, 3, 3, 3))
    (expected,) = tape_gradients(lambda x: tf.reduce_sum(tf.nn.max_pool2d(x, 2, 2, "VALID") * dz), x)
    np.testing.assert_allclose(backprop.max_pool2d_backward(x, dz), expected, atol=1e-12)


def test_pool_backward_errors():
    with pytest.raises(ValueError, match=r"size: the pooling window \(5 x 5\) is larger than the image"):
        backprop.max_pool2d_backward(np.ones((1, 4, 4, 1)), np.ones((1, 1, 1, 1)), 5)
    with pytest.raises(ValueError, match=r"dz: expected the shape of the pooled output, .* = \(1, 2, 2, 1\), "
                                         r"got shape \(1, 3, 3, 1\)"):
        backprop.avg_pool2d_backward(np.ones((1, 5, 5, 1)), np.ones((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="stride: expected an integer >= 1, got 0"):
        backprop.max_pool2d_backward(np.ones((1, 4, 4, 1)), np.ones((1, 2, 2, 1)), 2, 0)


# --- dense layer, ReLU, softmax and cross-entropy -----------------------------------------

@pytest.mark.parametrize("N, inputs, outputs", [(1, 1, 1), (4, 9216, 128), (5, 128, 10)])
def test_dense_backward_matches_gradient_tape(N, inputs, outputs, rng):
    z, V, b = rng.normal(size=(N, inputs)), rng.normal(size=(inputs, outputs)), rng.normal(size=outputs)
    du = rng.normal(size=(N, outputs))
    expected = tape_gradients(lambda z, V, b: tf.reduce_sum((z @ V + b) * du), z, V, b)
    u = backprop.dense_forward(z, V, b)
    np.testing.assert_allclose(u, z @ V + b)
    for e, g in zip(expected, backprop.dense_backward(z, V, du)):
        np.testing.assert_allclose(g, e, atol=1e-9)


def test_relu_backward_matches_gradient_tape_including_zero(rng):
    u = np.array([[-2.0, 0.0, 3.0], [0.5, -0.0, -1e-9]])
    dz = rng.normal(size=u.shape)
    (expected,) = tape_gradients(lambda u: tf.reduce_sum(tf.nn.relu(u) * dz), u)
    np.testing.assert_array_equal(backprop.relu_backward(u, dz), expected)
    np.testing.assert_array_equal(backprop.relu(u), np.asarray(keras.activations.relu(u)))


def test_softmax_and_cross_entropy_match_keras_on_random_logits(rng):
    u = rng.normal(scale=5, size=(64, 10)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    p = backprop.softmax(u)
    np.testing.assert_allclose(p, np.asarray(keras.activations.softmax(u)), atol=1e-6)
    keras_loss = float(keras.losses.CategoricalCrossentropy()(y, p))
    assert abs(backprop.cross_entropy(p, y) - keras_loss) < 1e-5
    expected = loss_gradient_keras(u, y)
    np.testing.assert_allclose(backprop.softmax_cross_entropy_grad(p, y), expected, atol=1e-7)


def test_cross_entropy_clips_like_keras():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    expected = np.asarray(keras.losses.categorical_crossentropy(y, p))
    np.testing.assert_allclose(backprop.cross_entropy(p, y, per_example=True), expected, rtol=1e-6)
    assert np.isfinite(backprop.cross_entropy(p, y))


def test_softmax_cross_entropy_on_the_reference_model(mnist):
    """Real outputs: the committed source CNN on 256 test digits."""
    from course_utils.data import one_hot, scale_images
    from course_utils.models import trained_source_cnn

    model, _ = trained_source_cnn(train=False)
    x, y = scale_images(mnist[1][0][:256]), one_hot(mnist[1][1][:256])
    features = keras.Model(model.inputs, model.get_layer("dropout2").output)
    V, b = model.get_layer("output").get_weights()
    logits = np.asarray(features(x)) @ V + b
    p_keras = np.asarray(model(x))
    np.testing.assert_allclose(backprop.softmax(logits), p_keras, atol=1e-6)
    keras_loss = float(keras.losses.CategoricalCrossentropy()(y, p_keras))
    assert abs(backprop.cross_entropy(p_keras, y) - keras_loss) < 1e-6
    expected = loss_gradient_keras(logits, y)
    np.testing.assert_allclose(backprop.softmax_cross_entropy_grad(backprop.softmax(logits), y), expected,
                               atol=1e-7)


def test_loss_errors():
    with pytest.raises(ValueError, match=r"p, y: expected two arrays of the same shape \(N, classes\)"):
        backprop.cross_entropy(np.ones((2, 10)), np.ones((2, 9)))
    with pytest.raises(ValueError, match=r"V: expected weights of shape \(3, outputs\)"):
        backprop.dense_backward(np.ones((2, 3)), np.ones((4, 5)), np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"du: expected shape \(2, 5\)"):
        backprop.dense_backward(np.ones((2, 3)), np.ones((3, 5)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"dz: expected the shape of u"):
        backprop.relu_backward(np.ones(3), np.ones(4))


# --- dropout ------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_dropout_matches_keras_in_both_modes(rate, rng):
    z = rng.uniform(0.5, 2.0, size=(64, 12, 12, 8)).astype(np.float32)     # no zeros of its own
    layer = keras.layers.Dropout(rate, seed=7)
    # Inference: the identity, in Keras and here.
    np.testing.assert_array_equal(np.asarray(layer(z, training=False)), z)
    out, mask = backprop.dropout(z, rate, training=False)
    np.testing.assert_array_equal(out, z)
    np.testing.assert_array_equal(mask, np.ones_like(z))
    # Training: Keras keeps a unit or zeroes it; the kept ones are scaled by 1 / (1 - d).
    zt = tf.Variable(z)
    with tf.GradientTape() as tape:
        keras_out = layer(zt, training=True)
        loss = tf.reduce_sum(keras_out * 3.0)
    keras_out, keras_grad = np.asarray(keras_out), tape.gradient(loss, zt).numpy()
    keras_mask = (keras_out != 0) / (1 - rate)
    np.testing.assert_allclose(keras_out, z * keras_mask, rtol=1e-6)
    np.testing.assert_allclose(backprop.dropout_backward(np.full(z.shape, 3.0), keras_mask), keras_grad, rtol=1e-6)
    # Ours drops the same share of units (binomial: 5 standard deviations) with the same scaling.
    out, mask = backprop.dropout(z, rate, training=True, rng=1)
    sd = np.sqrt(rate * (1 - rate) / z.size)
    assert abs((mask == 0).mean() - rate) < 5 * sd
    assert abs((keras_mask == 0).mean() - rate) < 5 * sd
    np.testing.assert_array_equal(np.unique(mask), np.array([0, 1 / (1 - rate)], dtype=np.float32))
    np.testing.assert_allclose(out, z * mask)
    np.testing.assert_array_equal(backprop.dropout(z, rate, training=True, rng=1)[0], out)   # seeded


@pytest.mark.parametrize("rate", [1.0, -0.1, "0.5", True])
def test_dropout_rejects_a_bad_rate(rate):
    with pytest.raises(ValueError, match="rate: expected the fraction d of units dropped, 0 <= d < 1"):
        backprop.dropout(np.ones(3), rate, training=True)


# --- the optimizer ------------------------------------------------------------------------

@pytest.mark.parametrize("learning_rate, rho, eps", [(1.0, 0.95, 1e-7), (0.05, 0.8, 1e-4), (3.0, 0.99, 1e-6)])
def test_adadelta_steps_match_keras(learning_rate, rho, eps, rng):
    """Six steps of keras.optimizers.Adadelta with non-default settings: the weights and both
    running averages, E[g^2] and E[dv^2], after every step."""
    v0 = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    grads = [(rng.normal(size=v0.shape) * 10.0 ** rng.uniform(-3, 1, size=v0.shape)).astype(np.float32)
             for _ in range(6)]                       # gradients over four orders of magnitude
    variable = keras.Variable(v0)
    optimizer = keras.optimizers.Adadelta(learning_rate=learning_rate, rho=rho, epsilon=eps)
    v, Eg, Ed = v0.astype(np.float64), np.zeros(v0.shape), np.zeros(v0.shape)
    for g in grads:
        optimizer.apply_gradients([(g, variable)])
        v, Eg, Ed = backprop.adadelta_step(v, g, Eg, Ed, learning_rate=learning_rate, rho=rho, eps=eps)
        np.testing.assert_allclose(v, np.asarray(variable), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(Eg, optimizer._accumulated_grads[0].numpy(), rtol=1e-5)
        np.testing.assert_allclose(Ed, optimizer._accumulated_delta_vars[0].numpy(), rtol=1e-4)
    assert np.abs(v - v0).max() > 1e-3 * learning_rate       # the weights did move
    assert Ed.min() > 0                                     # both averages are in play


def test_adadelta_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"g: expected the gradient to have the shape of v \(2,\)"):
        backprop.adadelta_step(np.ones(2), np.ones(3), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match=r"accumulated_delta: expected shape \(2,\)"):
        backprop.adadelta_step(np.ones(2), np.ones(2), np.zeros(2), np.zeros(3))


# --- the source network, backwards ------------------------------------------------------

def test_whole_source_network_gradient_matches_keras(mnist):
    """Chained by hand, on the reference model's own layers and weights, the gradient of all
    eight weight arrays equals tf.GradientTape's gradient of the Keras model (dropout off)."""
    from course_utils.data import one_hot, scale_images
    from course_utils.models import trained_source_cnn

    model, _ = trained_source_cnn(train=False)
    x, y = scale_images(mnist[1][0][:6]), one_hot(mnist[1][1][:6])
    y[0] = np.roll(y[0], 1)                         # one wrong label, so that some gradients are large
    with tf.GradientTape() as tape:
        loss = keras.losses.CategoricalCrossentropy()(y, model(x, training=False))
    expected = tape.gradient(loss, model.trainable_variables)

    w = {layer.name: [v.numpy().astype(np.float64) for v in layer.weights] for layer in model.layers
         if layer.weights}
    x64 = x.astype(np.float64)
    u1 = ops.conv2d(x64, *w["conv1"])
    u2 = ops.conv2d(backprop.relu(u1), *w["conv2"])
    z2 = backprop.relu(u2)
    m = ops.max_pool2d(z2, 2)
    f = m.reshape(len(x), -1)
    u3 = backprop.dense_forward(f, *w["dense1"])
    u4 = backprop.dense_forward(backprop.relu(u3), *w["output"])

    du4 = backprop.softmax_cross_entropy_grad(backprop.softmax(u4), y)
    dz3, dV4, db4 = backprop.dense_backward(backprop.relu(u3), w["output"][0], du4)
    df, dV3, db3 = backprop.dense_backward(f, w["dense1"][0], backprop.relu_backward(u3, dz3))
    dz2 = backprop.max_pool2d_backward(z2, df.reshape(m.shape))
    dz1, dh2, db2 = backprop.conv2d_backward(backprop.relu(u1), w["conv2"][0], backprop.relu_backward(u2, dz2))
    _, dh1, db1 = backprop.conv2d_backward(x64, w["conv1"][0], backprop.relu_backward(u1, dz1))
    for variable, ours, theirs in zip(model.trainable_variables, [dh1, db1, dh2, db2, dV3, db3, dV4, db4],
                                      expected):
        theirs = theirs.numpy()
        assert ours.shape == theirs.shape, variable.path
        # Entry by entry (float32 model, float64 chain): small entries are checked too; the
        # floor spares only float32 noise around zero.
        np.testing.assert_allclose(ours, theirs, rtol=2e-3, atol=1e-6 * np.abs(theirs).max(),
                                   err_msg=variable.path)


# --- finite differences -----------------------------------------------------------------

def test_centred_difference_matches_gradient_tape(rng):
    """The estimate of a smooth loss (conv, then softmax cross-entropy) agrees with the tape."""
    x, h = rng.normal(size=(2, 6, 6, 2)), rng.normal(size=(3, 3, 2, 4))
    y = np.eye(4)[[1, 3]]

    def loss_of(h):
        u = tf.reduce_mean(tf.nn.conv2d(x, h, 1, "VALID"), axis=(1, 2))
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, u))

    (expected,) = tape_gradients(loss_of, h)
    entries = random_indices(h.shape, 10, rng)
    numeric = centred_difference(lambda: float(loss_of(tf.constant(h))), h, entries)
    assert relative_error([expected[e] for e in entries], numeric).max() < 1e-7


def test_centred_difference_restores_the_array_and_rejects_float32(rng):
    h = rng.normal(size=(3, 3))
    kept = h.copy()
    centred_difference(lambda: float((h ** 2).sum()), h, random_indices(h.shape, 4, rng))
    np.testing.assert_array_equal(h, kept)
    with pytest.raises(ValueError, match="array: expected a float64 NumPy array"):
        centred_difference(lambda: 0.0, h.astype(np.float32), [(0, 0)])


def test_finite_differences_catch_a_wrong_backward_pass(rng):
    """The backward pass through a dense layer and ReLU agrees with centred differences;
    the same check fails on a planted mistake: dL/dV computed without the factor z^T."""
    z, V, b = rng.normal(size=(5, 7)), rng.normal(size=(7, 3)), rng.normal(size=3)
    target = rng.normal(size=(5, 3))

    def loss():
        return float(0.5 * ((backprop.relu(z @ V + b) - target) ** 2).sum())

    u = z @ V + b
    _, dV, db = backprop.dense_backward(z, V, backprop.relu_backward(u, backprop.relu(u) - target))
    entries = random_indices(V.shape, 8, rng)
    numeric = centred_difference(loss, V, entries)
    assert relative_error([dV[e] for e in entries], numeric).max() < 1e-7
    wrong = np.broadcast_to((backprop.relu(u) - target).sum(axis=0), V.shape)      # forgot z.T
    assert relative_error([wrong[e] for e in entries], numeric).max() > 1e-2
