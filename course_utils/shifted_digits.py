"""Digits moved by whole pixels (chapter 4's shifts), as a criterion that separates
architectures by more than the noise of their plain accuracy.

Only digits with no ink in the 3-pixel frame are used, so that no shift of up to 3 pixels
cuts a stroke off: what changes is the position alone.
"""

from __future__ import annotations

import numpy as np

SHIFTS = (1, 2, 3)
DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


def shift_images(images, dy: int = 0, dx: int = 0):
    """Shift (N, W, W, ...) images by dy rows (down) and dx columns (right); the background fills in.

    >>> shift_images(np.arange(9.0).reshape(1, 3, 3), dx=1)[0]
    array([[0., 0., 1.],
           [0., 3., 4.],
           [0., 6., 7.]])
    """
    images = np.asarray(images)
    shifted = np.zeros_like(images)
    W = images.shape[1]
    shifted[:, max(dy, 0):W + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        images[:, max(-dy, 0):W + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return shifted


def inside_frame(images, frame: int = 3) -> np.ndarray:
    """Indices of the images (N, W, W, ...) with no ink in the outer ``frame`` pixels."""
    images = np.asarray(images)
    border = np.ones(images.shape[1:3], dtype=bool)
    border[frame:-frame, frame:-frame] = False
    return np.flatnonzero(~(images[:, border] > 0).reshape(len(images), -1).any(axis=1))


def accuracy_under_shifts(model, x, labels, limit: int = 2000) -> dict:
    """Accuracy of ``model`` on the first ``limit`` digits of ``x`` that fit the frame, for
    each shift of :data:`SHIFTS` pixels (mean of the four directions):
    ``{"by_shift": {"0": ..., "1": ...}, "digits": count}``."""
    chosen = inside_frame(x)[:limit]
    digits, truth = x[chosen], np.asarray(labels)[chosen]
    batches = [digits] + [shift_images(digits, dy * d, dx * d) for d in SHIFTS for dy, dx in DIRECTIONS.values()]
    predicted = model.predict(np.concatenate(batches), batch_size=1000, verbose=0).argmax(axis=1)
    correct = (predicted == np.tile(truth, len(batches))).reshape(len(batches), -1).mean(axis=1)
    by_shift = {"0": float(correct[0])}
    for i, d in enumerate(SHIFTS):
        by_shift[str(d)] = float(correct[1 + 4 * i:1 + 4 * (i + 1)].mean())
    return {"by_shift": by_shift, "digits": int(len(chosen))}
