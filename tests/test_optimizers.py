"""The optimizers of course_utils.optimizers against keras.optimizers: six steps each with
non-default settings, the weights and every accumulator compared after every step; then
the faults these comparisons must catch, planted one by one."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import optimizers

STEPS = 6


@pytest.fixture
def rng(request):
    """A generator seeded by the test's name: the same numbers on every run."""
    return np.random.default_rng(list(request.node.name.encode()))


def _gradients(rng, shape):
    """Gradients over four orders of magnitude, as in a real network."""
    return [(rng.normal(size=shape) * 10.0 ** rng.uniform(-3, 1, size=shape)).astype(np.float32)
            for _ in range(STEPS)]


def _run_sgd(step, rng, learning_rate, momentum, nesterov):
    v0 = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    variable = keras.Variable(v0)
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov)
    v, velocity = v0.astype(np.float64), None
    for g in _gradients(rng, v0.shape):
        optimizer.apply_gradients([(g, variable)])
        v, velocity = step(v, g, velocity, learning_rate, momentum, nesterov)
        yield v, velocity, np.asarray(variable), (optimizer.momentums[0].numpy() if momentum else None)


@pytest.mark.parametrize("learning_rate, momentum, nesterov", [(0.3, 0.0, False), (0.05, 0.9, False),
                                                               (0.2, 0.5, True), (1.0, 0.99, True)])
def test_sgd_steps_match_keras(learning_rate, momentum, nesterov, rng):
    for v, velocity, keras_v, keras_m in _run_sgd(optimizers.sgd_step, rng, learning_rate, momentum, nesterov):
        np.testing.assert_allclose(v, keras_v, rtol=1e-5, atol=1e-5)
        if momentum:
            np.testing.assert_allclose(velocity, keras_m, rtol=1e-5, atol=1e-6)


def _run_adam(step, rng, learning_rate, beta_1, beta_2, epsilon):
    v0 = rng.normal(size=(5, 7)).astype(np.float32)
    variable = keras.Variable(v0)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    v, m, s = v0.astype(np.float64), np.zeros(v0.shape), np.zeros(v0.shape)
    for t, g in enumerate(_gradients(rng, v0.shape), start=1):
        optimizer.apply_gradients([(g, variable)])
        v, m, s = step(v, g, m, s, t, learning_rate, beta_1, beta_2, epsilon)
        yield v, m, s, np.asarray(variable), optimizer._momentums[0].numpy(), optimizer._velocities[0].numpy()


@pytest.mark.parametrize("learning_rate, beta_1, beta_2, epsilon", [(0.001, 0.9, 0.999, 1e-7),
                                                                    (0.05, 0.7, 0.9, 1e-4),
                                                                    (0.3, 0.95, 0.99, 1e-3)])
def test_adam_steps_match_keras(learning_rate, beta_1, beta_2, epsilon, rng):
    for v, m, s, keras_v, keras_m, keras_s in _run_adam(optimizers.adam_step, rng, learning_rate, beta_1,
                                                        beta_2, epsilon):
        np.testing.assert_allclose(v, keras_v, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(m, keras_m, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(s, keras_s, rtol=1e-4, atol=1e-9)


def test_adadelta_is_chapter_5s():
    assert optimizers.adadelta_step is __import__("course_utils.backprop", fromlist=["x"]).adadelta_step


# --- planted faults: each must make the comparison with Keras fail ------------------------

def _sgd_nesterov_ignored(v, g, velocity, learning_rate, momentum, nesterov):
    return optimizers.sgd_step(v, g, velocity, learning_rate, momentum, nesterov=False)


def _sgd_momentum_on_the_gradient(v, g, velocity, learning_rate, momentum, nesterov):
    velocity = np.zeros(np.shape(v)) if velocity is None else velocity
    velocity = momentum * velocity + (1 - momentum) * g          # an exponential average instead
    return v - learning_rate * velocity, velocity


def _adam_without_bias_correction(v, g, m, s, t, learning_rate, beta_1, beta_2, epsilon):
    m, s = beta_1 * m + (1 - beta_1) * g, beta_2 * s + (1 - beta_2) * g * g
    return v - learning_rate * m / (np.sqrt(s) + epsilon), m, s


def _adam_epsilon_inside_the_root(v, g, m, s, t, learning_rate, beta_1, beta_2, epsilon):
    m, s = beta_1 * m + (1 - beta_1) * g, beta_2 * s + (1 - beta_2) * g * g
    alpha = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return v - alpha * m / np.sqrt(s + epsilon), m, s


def _matches(run) -> bool:
    try:
        for values in run:
            v, keras_v = values[0], values[3 if len(values) == 6 else 2]
            np.testing.assert_allclose(v, keras_v, rtol=1e-5, atol=1e-6)
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("fault", [_sgd_nesterov_ignored, _sgd_momentum_on_the_gradient])
def test_a_wrong_sgd_rule_is_caught(fault, rng):
    assert _matches(_run_sgd(optimizers.sgd_step, np.random.default_rng(5), 0.2, 0.5, True))
    assert not _matches(_run_sgd(fault, np.random.default_rng(5), 0.2, 0.5, True))


@pytest.mark.parametrize("fault", [_adam_without_bias_correction, _adam_epsilon_inside_the_root])
def test_a_wrong_adam_rule_is_caught(fault):
    assert _matches(_run_adam(optimizers.adam_step, np.random.default_rng(5), 0.05, 0.7, 0.9, 1e-3))
    assert not _matches(_run_adam(fault, np.random.default_rng(5), 0.05, 0.7, 0.9, 1e-3))


@pytest.mark.parametrize("call, message", [
    (lambda: optimizers.sgd_step(np.ones(2), np.ones(3)), r"g: expected the gradient to have the shape of v \(2,\)"),
    (lambda: optimizers.adam_step(np.ones(2), np.ones(2), np.zeros(2), np.zeros(3), t=1), "second_moment"),
    (lambda: optimizers.adam_step(np.ones(2), np.ones(2), np.zeros(2), np.zeros(2), t=0), "t: expected the step"),
])
def test_bad_input_gets_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
