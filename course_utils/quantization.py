"""Weights stored as 8-bit integers with one scale per output channel, and their cost.

Chapter 8's draw-a-digit explorer carries the trained source CNN into the reader's page.
Its 1,199,882 float32 parameters take 4.8 MB, more than the page's budget; as int8 they
take a quarter of that. Each weight array ``w`` (a conv kernel (H, H, K, M) or a dense
matrix (inputs, M)) is stored as integers ``q`` in -127..127 and one float32 scale per
output channel m, ``scale[m] = max |w[..., m]| / 127``, so that ``w ~ q * scale``; an
error of at most half a scale step per weight. Biases stay float32 (one per channel: few).
Chapter 8 writes ``q`` as h-tilde and ``scale[m]`` as tau_m (eq-int8), since in the book's
notation q is a filter's column index and s the stride.

Examples
--------
>>> w = np.array([[0.5, -0.02], [-1.0, 0.005]], np.float32)
>>> q, scale = quantize_per_channel(w)
>>> q.tolist(), [round(float(s) * 127, 4) for s in scale]   # the largest |w| of each column / 127
([[64, -127], [-127, 32]], [1.0, 0.02])
>>> bool(np.abs(dequantize(q, scale) - w).max() <= scale.max() / 2)
True
"""

from __future__ import annotations

import numpy as np

LEVELS = 127   # int8 values -127..127 (symmetric: -128 is never used)


def quantize_per_channel(w) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scale)``: int8 ``q`` of w's shape and float32 ``scale`` (one per last-axis channel).

    A channel whose weights are all zero gets scale 0 and zeros.
    """
    w = np.asarray(w, dtype=np.float32)
    if w.ndim < 2:
        raise ValueError(f"w: expected a weight array with an output-channel last axis (2-D or more), "
                         f"got shape {w.shape}; biases are kept in float32")
    scale = (np.abs(w).max(axis=tuple(range(w.ndim - 1))) / np.float32(LEVELS)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.clip(np.rint(w / safe), -LEVELS, LEVELS).astype(np.int8)
    return q, scale


def dequantize(q, scale) -> np.ndarray:
    """The float32 weights ``q * scale`` that the int8 form stands for (per last-axis channel)."""
    return np.asarray(q).astype(np.float32) * np.asarray(scale, dtype=np.float32)


def quantized_weights(model) -> list[dict]:
    """For every layer of ``model`` with weights: name, int8 kernel, its scales and the float32 bias."""
    layers = []
    for layer in model.layers:
        if not layer.weights:
            continue
        kernel, bias = layer.get_weights()
        q, scale = quantize_per_channel(kernel)
        layers.append({"name": layer.name, "kernel": q, "scale": scale, "bias": bias.astype(np.float32)})
    return layers


def dequantized_model(model):
    """A copy of a Keras ``model`` whose kernels are replaced by their int8 form (dequantized).

    What a page that stores the weights as int8 computes, in Keras: used to measure the
    accuracy cost of the int8 form and to check the page's forward pass.
    """
    import keras

    copy = keras.models.clone_model(model)
    weights = {entry["name"]: entry for entry in quantized_weights(model)}
    for layer in copy.layers:
        if layer.name in weights:
            entry = weights[layer.name]
            layer.set_weights([dequantize(entry["kernel"], entry["scale"]), entry["bias"]])
    return copy
