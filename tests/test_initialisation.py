"""The He and Glorot scales (course_utils.initialisation) against Keras' own initializers:
the fans Keras counts, the standard deviation of the weights it draws (200,000 or more of them),
and the defaults of the source model's layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_utils import initialisation
from course_utils.models import build_source_cnn

SHAPES = [(3, 3, 1, 32), (3, 3, 32, 64), (9216, 128), (5, 5, 3, 7)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_are_keras_fans(shape):
    from keras.src.initializers.random_initializers import compute_fans
    assert initialisation.fans(shape) == tuple(int(n) for n in compute_fans(shape))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("ours, theirs", [(initialisation.he_std, keras.initializers.HeNormal),
                                          (initialisation.glorot_std, keras.initializers.GlorotUniform)])
def test_the_scale_is_the_standard_deviation_keras_draws(shape, ours, theirs):
    n = int(np.prod(shape))
    repeats = max(1, 200_000 // n)         # 200,000 weights or more: the sample std is within 0.2%
    drawn = np.concatenate([np.ravel(theirs(seed=k)(shape)) for k in range(repeats)])
    assert np.std(drawn) == pytest.approx(ours(shape), rel=0.01)


def test_a_wrong_fan_is_caught():
    """Counting only the channels (K, not H*H*K) gives a scale 3 times too large: caught."""
    drawn = np.ravel(keras.initializers.HeNormal(seed=0)((3, 3, 32, 64)))
    assert np.std(drawn) != pytest.approx(np.sqrt(2 / 32), rel=0.05)


def test_the_source_model_uses_keras_defaults():
    """Glorot uniform kernels and zero biases: what chapter 6's model starts from."""
    model = build_source_cnn(compiled=False)
    for layer in model.layers:
        if hasattr(layer, "kernel_initializer"):
            assert type(layer.kernel_initializer).__name__ == "GlorotUniform", layer.name
            assert type(layer.bias_initializer).__name__ == "Zeros", layer.name


def test_bad_shape_gets_a_clear_message():
    with pytest.raises(ValueError, match="kernel_shape: expected at least 2 positive sizes"):
        initialisation.fans((3,))
