"""int8 weights with one scale per output channel (course_utils.quantization)."""

import numpy as np
import pytest

from course_utils.quantization import dequantize, dequantized_model, quantize_per_channel, quantized_weights


def test_each_channel_uses_the_full_range_and_errs_by_half_a_step_at_most():
    w = np.random.default_rng(0).normal(size=(3, 3, 8, 16)).astype(np.float32) * np.arange(1, 17)
    q, scale = quantize_per_channel(w)
    assert q.dtype == np.int8 and scale.shape == (16,)
    assert (np.abs(q).max(axis=(0, 1, 2)) == 127).all() and q.min() >= -127
    assert (np.abs(dequantize(q, scale) - w) <= scale / 2 * (1 + 1e-6)).all()


def test_a_zero_channel_stays_zero():
    w = np.zeros((4, 3), np.float32)
    w[:, 0] = [1, -2, 3, 0.5]
    q, scale = quantize_per_channel(w)
    assert scale[1] == scale[2] == 0 and (q[:, 1:] == 0).all() and (dequantize(q, scale)[:, 1:] == 0).all()


def test_the_dequantized_model_computes_with_the_int8_weights():
    from course_utils.models import build_source_cnn

    model = build_source_cnn(compiled=False)
    copy = dequantized_model(model)
    for entry in quantized_weights(model):
        kernel, bias = copy.get_layer(entry["name"]).get_weights()
        assert np.array_equal(kernel, dequantize(entry["kernel"], entry["scale"]))
        assert np.array_equal(bias, model.get_layer(entry["name"]).get_weights()[1])
    x = np.random.default_rng(1).random((4, 28, 28, 1)).astype(np.float32)
    assert np.abs(copy.predict(x, verbose=0) - model.predict(x, verbose=0)).max() < 0.05


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="^w: "):
        quantize_per_channel(np.zeros(3))
