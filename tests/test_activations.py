"""Looking inside the trained model: sub-model outputs against our own NumPy ops, safe
display scaling, and the figures of the visualisation chapter."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import ops
from course_utils.activations import dead_channels, feature_extractor, layer_outputs, normalise_for_display
from course_utils.confusion import confusion_matrix
from course_utils.models import build_source_cnn
from course_utils.plots import activation_trace, confusion_figure, map_grid


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    return build_source_cnn()


def test_layer_outputs_match_numpy_equations(model):
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    out = layer_outputs(model, x, ["conv1", "conv2", "pool"])
    h1, b1 = model.get_layer("conv1").get_weights()
    h2, b2 = model.get_layer("conv2").get_weights()
    z1 = np.maximum(ops.conv2d(x, h1, b1), 0)
    z2 = np.maximum(ops.conv2d(z1, h2, b2), 0)
    np.testing.assert_allclose(out["conv1"], z1, atol=1e-5)
    np.testing.assert_allclose(out["conv2"], z2, atol=1e-4)
    np.testing.assert_allclose(out["pool"], ops.max_pool2d(z2, 2), atol=1e-4)


def test_layer_outputs_single_layer_and_batches(model):
    x = np.zeros((7, 28, 28, 1), np.float32)
    out = layer_outputs(model, x, ["output"], batch_size=3)
    assert out["output"].shape == (7, 10)
    np.testing.assert_allclose(out["output"].sum(axis=1), 1, atol=1e-5)


def test_feature_extractor_rejects_unknown_layers(model):
    with pytest.raises(ValueError, match="conv9"):
        feature_extractor(model, ["conv9"])


def test_normalise_never_divides_by_zero():
    maps = np.stack([np.zeros((4, 4)), np.full((4, 4), 3.0), np.arange(16.0).reshape(4, 4)])
    shown = normalise_for_display(maps)
    assert np.isfinite(shown).all()
    np.testing.assert_array_equal(shown[0], 0)
    np.testing.assert_array_equal(shown[1], 0)
    assert shown[2].min() == 0 and shown[2].max() == 1


def test_dead_channels():
    z = np.ones((2, 3, 3, 4))
    z[..., 1] = 0
    z[0, ..., 3] = 0  # silent for one image only: not dead
    assert dead_channels(z).tolist() == [1]


def test_confusion_matrix_against_counting():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    matrix = confusion_matrix(y_true, y_pred)
    for t, p in [(0, 0), (3, 7), (9, 2)]:
        assert matrix[t, p] == np.sum((y_true == t) & (y_pred == p))
    assert matrix.sum() == 500


def _images_are_finite(fig):
    return all(np.isfinite(np.asarray(im.get_array(), dtype=float)).all() for ax in fig.axes for im in ax.images)


def test_map_grid_marks_dead_maps_and_draws_no_nan():
    maps = np.stack([np.zeros((5, 5)), np.random.default_rng(0).random((5, 5)), np.zeros((5, 5))])
    fig = map_grid(maps, titles=["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a (all 0)", "b", "c (all 0)"]
    assert _images_are_finite(fig)


def test_confusion_figure_has_one_panel_and_a_colour_bar():
    fig = confusion_figure(np.eye(10, dtype=int) * 100)
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "confusion matrix (counts)"
    assert _images_are_finite(fig)


def test_activation_trace_panels(model):
    x = np.random.default_rng(2).random((1, 28, 28, 1)).astype(np.float32)
    trace = layer_outputs(model, x, ["conv1", "conv2", "dense1", "output"])
    fig = activation_trace(x[0], {name: value[0] for name, value in trace.items()}, channels=4)
    # input + 4 conv1 + 4 conv2 + one bar chart each for dense1 and output
    assert len(fig.axes) == 1 + 4 + 4 + 1 + 1
    assert fig.axes[1].get_title(loc="left") == "conv1[0]"
    assert fig.axes[-1].get_title(loc="left") == "output (10 values)"
    assert _images_are_finite(fig)


@pytest.mark.parametrize("call, message", [
    (lambda: map_grid(np.zeros((2, 3))), "maps"),
    (lambda: map_grid(np.zeros((2, 3, 3)), titles=["x"]), "titles"),
    (lambda: confusion_figure(np.zeros((2, 3))), "matrix"),
    (lambda: normalise_for_display(np.zeros((3, 3))), "maps"),
    (lambda: dead_channels(np.zeros((3, 3, 3))), "z"),
    (lambda: confusion_matrix([1, 2], [1]), "y_true"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
