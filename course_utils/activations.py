"""Looking inside a trained model: intermediate outputs, display scaling, dead channels.

Keras 3's ``Sequential.input`` raises for models that were never called, so sub-models
are built from ``model.inputs`` (a list), which every built model has.
"""

from __future__ import annotations

import numpy as np


def feature_extractor(model, layer_names):
    """A functional model mapping the model's input to the outputs of ``layer_names``.

    Examples
    --------
    >>> from course_utils.models import build_source_cnn
    >>> extractor = feature_extractor(build_source_cnn(compiled=False), ["conv1", "conv2"])
    >>> [tuple(a.shape) for a in extractor(np.zeros((2, 28, 28, 1), "float32"))]
    [(2, 26, 26, 32), (2, 24, 24, 64)]
    """
    import keras

    names = [layer.name for layer in model.layers]
    unknown = [name for name in layer_names if name not in names]
    if unknown:
        raise ValueError(f"layer_names: {unknown} are not layers of {model.name}; expected some of {names}")
    return keras.Model(model.inputs, [model.get_layer(name).output for name in layer_names])


def layer_outputs(model, x, layer_names=None, batch_size: int = 500) -> dict:
    """Outputs of the named layers (default: all) for inputs ``x``, as a name -> array dict.

    The sub-model is called directly in inference mode (dropout off), batch by batch;
    unlike ``predict`` this traces no new function per call, so an explorer can call it
    often.
    """
    layer_names = list(layer_names or [layer.name for layer in model.layers])
    extractor = feature_extractor(model, layer_names)
    batches = [extractor([x[start:start + batch_size]], training=False)  # inputs is a list
               for start in range(0, len(x), batch_size)]
    if len(layer_names) == 1:  # a one-output model returns a tensor, not a list
        batches = [[batch] for batch in batches]
    return {name: np.concatenate([np.asarray(batch[k]) for batch in batches])
            for k, name in enumerate(layer_names)}


def normalise_for_display(maps) -> np.ndarray:
    """Scale each map of ``maps`` (n, H, W) to [0, 1] by its own minimum and maximum.

    A constant map (for example a channel that ReLU switched off everywhere) has no range
    to scale by; it becomes all zeros instead of a division by zero.

    Examples
    --------
    >>> normalise_for_display(np.array([[[1., 3.]], [[0., 0.]]]))
    array([[[0., 1.]],
    <BLANKLINE>
           [[0., 0.]]])
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim != 3:
        raise ValueError(f"maps: expected shape (n, H, W), got {maps.shape}")
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)


def dead_channels(z) -> np.ndarray:
    """Indices of the channels of ``z`` (N, H, W, C) that are zero for every image and pixel.

    Examples
    --------
    >>> dead_channels(np.stack([np.zeros((2, 3, 3)), np.ones((2, 3, 3))], axis=-1))
    array([0])
    """
    z = np.asarray(z)
    if z.ndim != 4:
        raise ValueError(f"z: expected shape (N, H, W, C), got {z.shape}")
    return np.flatnonzero(np.all(z == 0, axis=(0, 1, 2)))

