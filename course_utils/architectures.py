"""Variations of the source CNN for chapter 10, and two ways to read any model's layers.

An :class:`ArchitectureSpec` says how a variant differs from the source model; its
``build`` makes the Keras model. :func:`receptive_fields` and :func:`parameter_table`
describe a built model layer by layer.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import layers

from course_utils.models import compile_model

DOWNSAMPLING = ("max", "average", "none", "strided")
HEADS = ("flatten", "gap")


@dataclasses.dataclass(frozen=True)
class ArchitectureSpec:
    """One CNN of the sweep; the defaults are the source's model.

    ``filters`` is conv1's channel count; later conv layers have twice as many.
    ``depth`` conv layers of ``kernel`` x ``kernel`` are followed by the down-sampling
    (2x2 max or average pooling, none, or stride 2 in the last conv layer), then the head:
    Flatten + Dense(128) as the source, or global average pooling straight into the
    softmax layer. ``dropout`` keeps or removes both of the source's Dropout layers.
    """

    filters: int = 32
    kernel: int = 3
    depth: int = 2
    downsampling: str = "max"
    dropout: bool = True
    head: str = "flatten"

    def __post_init__(self):
        for name, allowed in (("downsampling", DOWNSAMPLING), ("head", HEADS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got {getattr(self, name)!r}")
        for name in ("filters", "kernel", "depth"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive int, got {getattr(self, name)!r}")

    def channels(self) -> list[int]:
        """Output channels of each conv layer: ``filters``, then twice as many."""
        return [self.filters] + [2 * self.filters] * (self.depth - 1)

    def build(self, learning_rate: float = 1.0, compiled: bool = True) -> keras.Sequential:
        """The Keras model, compiled as the source (Adadelta, cross-entropy) unless told not."""
        stack = [keras.Input(shape=(28, 28, 1), name="image")]
        channels = self.channels()
        for i, m in enumerate(channels, start=1):
            strided = self.downsampling == "strided" and i == len(channels)
            stack.append(layers.Conv2D(m, self.kernel, strides=2 if strided else 1,
                                       activation="relu", name=f"conv{i}"))
        if self.downsampling == "max":
            stack.append(layers.MaxPooling2D(2, name="pool"))
        elif self.downsampling == "average":
            stack.append(layers.AveragePooling2D(2, name="pool"))
        if self.dropout:
            stack.append(layers.Dropout(0.25, name="dropout1"))
        if self.head == "flatten":
            stack += [layers.Flatten(name="flatten"), layers.Dense(128, activation="relu", name="dense1")]
            if self.dropout:
                stack.append(layers.Dropout(0.5, name="dropout2"))
        else:
            stack.append(layers.GlobalAveragePooling2D(name="gap"))
        stack.append(layers.Dense(10, activation="softmax", name="output"))
        model = keras.Sequential(stack, name="cnn")
        return compile_model(model, learning_rate) if compiled else model


def sliding_layers(model):
    """``(layer, kernel, stride)`` for each conv and pooling layer of ``model``, input first."""
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            yield layer, layer.kernel_size[0], layer.strides[0]
        elif isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
            yield layer, layer.pool_size[0], layer.strides[0]


def receptive_fields(model) -> list[dict]:
    """Receptive field of one output unit of every conv and pooling layer, in input pixels.

    Layer l, with kernel ``H_l`` and stride ``s_l``, sees ``(H_l - 1) * J_{l-1}`` more input
    pixels than the layer before it, where the jump ``J_{l-1}`` is the product of all
    earlier strides (the distance, in input pixels, between neighbouring units of the
    layer's input): r_l = r_{l-1} + (H_l - 1) J_{l-1}, J_l = J_{l-1} s_l, r_0 = J_0 = 1.
    Each row gives the layer's name, its field ``size`` r_l, its ``jump`` J_l and its
    output's spatial shape.

    Examples
    --------
    >>> from course_utils.models import build_source_cnn
    >>> [(r["layer"], r["size"]) for r in receptive_fields(build_source_cnn(compiled=False))]
    [('conv1', 3), ('conv2', 5), ('pool', 6)]
    """
    size, jump, rows = 1, 1, []
    for layer, kernel, stride in sliding_layers(model):
        size += (kernel - 1) * jump
        jump *= stride
        rows.append({"layer": layer.name, "size": size, "jump": jump,
                     "output": tuple(layer.output.shape[1:3])})
    return rows


def parameter_table(model) -> list[dict]:
    """Parameters of every layer that has any, their share of the model's total, and the
    multiply-adds the layer does per image (a convolution: one per weight and output
    position, W'^2 H^2 K M; a Dense layer: one per weight, biases not counted)."""
    total = model.count_params()
    rows = []
    for layer in model.layers:
        if not layer.count_params():
            continue
        weights = int(np.prod(layer.get_weights()[0].shape))
        positions = int(np.prod(layer.output.shape[1:3])) if isinstance(layer, layers.Conv2D) else 1
        rows.append({"layer": layer.name, "parameters": layer.count_params(),
                     "share": layer.count_params() / total, "multiply_adds": weights * positions})
    return rows
