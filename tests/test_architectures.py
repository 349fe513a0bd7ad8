"""Sweep variants, receptive fields and parameter placement, checked against Keras and
against values derived by hand or by probing the built models."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.architectures import ArchitectureSpec, parameter_table, receptive_fields
from course_utils.models import build_small_cnn, build_source_cnn
from course_utils.experiments.sweep import VARIANTS


def _layer_summary(model):
    return [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers]


def test_default_spec_is_the_source_model():
    assert _layer_summary(ArchitectureSpec().build(compiled=False)) == _layer_summary(build_source_cnn(compiled=False))


@pytest.mark.parametrize("name, expected", [
    # conv1 (3x3x1 x f + f), conv2 (3x3xf x 2f + 2f), dense1 (12*12*2f*128 + 128), output 1,290
    ("filters-64", (9 * 64 + 64) + (9 * 64 * 128 + 128) + (12 * 12 * 128 * 128 + 128) + 1290),
    ("filters-8", (9 * 8 + 8) + (9 * 8 * 16 + 16) + (12 * 12 * 16 * 128 + 128) + 1290),
    # 5x5 filters: 28 -> 24 -> 20 -> pooled 10
    ("kernel-5", (25 * 32 + 32) + (25 * 32 * 64 + 64) + (10 * 10 * 64 * 128 + 128) + 1290),
    # no pooling: dense1 sees all 24 x 24 x 64 values
    ("downsampling-none", 320 + 18496 + (24 * 24 * 64 * 128 + 128) + 1290),
    # global average pooling: 64 channel means straight into the softmax layer
    ("head-gap", 320 + 18496 + (64 * 10 + 10)),
])
def test_variant_parameter_counts_match_hand_counts(name, expected):
    assert VARIANTS[name].build(compiled=False).count_params() == expected


def test_each_variant_changes_one_factor_of_the_source():
    source = ArchitectureSpec().__dict__
    for variant in VARIANTS.values():
        if variant.factor in ("source model", "recommended"):
            continue
        changed = [k for k in source if variant.spec[k] != source[k]]
        assert len(changed) == 1, variant.name


def test_strided_convolution_replaces_pooling():
    model = VARIANTS["downsampling-strided"].build(compiled=False)
    assert model.get_layer("conv2").strides == (2, 2)
    assert tuple(model.get_layer("conv2").output.shape[1:]) == (12, 12, 64)
    assert not any("pool" in layer.name for layer in model.layers)


@pytest.mark.parametrize("changes, message", [
    ({"downsampling": "min"}, "downsampling"), ({"head": "dense"}, "head"),
    ({"filters": 0}, "filters"), ({"depth": 2.5}, "depth"),
])
def test_bad_spec_is_named(changes, message):
    with pytest.raises(ValueError, match=message):
        ArchitectureSpec(**changes)


def _probed_receptive_field(model, layer_name):
    """Rows of the input that reach unit (0, 0) of a layer, found by switching pixels on.

    All kernels are ones and biases zero, so a single lit input pixel changes the unit
    exactly when it lies in the unit's receptive field (every path is positive; ReLU, max
    and average pooling all pass a positive change). The unit's field starts at pixel 0.
    """
    import keras

    for layer in model.layers:
        if layer.weights:
            layer.set_weights([np.ones_like(w) if w.ndim > 1 else np.zeros_like(w) for w in layer.get_weights()])
    probe = keras.Model(model.inputs, model.get_layer(layer_name).output)
    lit = np.zeros((28 * 28, 28, 28, 1), "float32")
    lit[np.arange(28 * 28), np.arange(28 * 28) // 28, np.arange(28 * 28) % 28, 0] = 1.0
    reached = probe.predict(lit, batch_size=784, verbose=0)[:, 0, 0, :].sum(axis=-1) > 0
    rows = np.flatnonzero(reached.reshape(28, 28).any(axis=1))
    return rows.max() - rows.min() + 1


@pytest.mark.parametrize("build", [
    build_source_cnn, build_small_cnn,
    VARIANTS["kernel-7"].build, VARIANTS["depth-3"].build, VARIANTS["downsampling-strided"].build,
])
def test_receptive_fields_match_probing(build):
    model = build(compiled=False)
    for row in receptive_fields(model):
        assert row["size"] == _probed_receptive_field(model, row["layer"]), row["layer"]


def test_exercise_reference_agrees_with_receptive_fields():
    from course_utils.checks import _receptive_field_by_tracing

    for build in (build_small_cnn, VARIANTS["downsampling-strided"].build, VARIANTS["kernel-5"].build):
        model = build(compiled=False)
        stack = [(layer.kernel_size[0], layer.strides[0]) if hasattr(layer, "kernel_size")
                 else (layer.pool_size[0], layer.strides[0])
                 for layer in model.layers if hasattr(layer, "kernel_size") or hasattr(layer, "pool_size")]
        assert list(_receptive_field_by_tracing(stack)) == [r["size"] for r in receptive_fields(model)]


def test_receptive_fields_of_the_small_cnn():
    sizes = [(r["layer"], r["size"], r["jump"]) for r in receptive_fields(build_small_cnn(compiled=False))]
    assert sizes == [("conv1", 3, 1), ("conv2", 5, 1), ("pool1", 6, 2), ("conv3", 10, 2),
                     ("conv4", 14, 2), ("pool2", 16, 4)]


def test_parameter_table_of_the_source_model():
    table = {row["layer"]: row for row in parameter_table(build_source_cnn(compiled=False))}
    assert set(table) == {"conv1", "conv2", "dense1", "output"}
    assert table["dense1"]["parameters"] == 12 * 12 * 64 * 128 + 128
    assert table["dense1"]["share"] == pytest.approx(1_179_776 / 1_199_882)
    assert sum(row["share"] for row in table.values()) == pytest.approx(1.0)
    assert table["conv2"]["multiply_adds"] == 24 * 24 * (3 * 3 * 32) * 64
    assert table["dense1"]["multiply_adds"] == 9216 * 128
