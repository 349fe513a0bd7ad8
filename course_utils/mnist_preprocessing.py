"""MNIST's own preprocessing, applied to a digit drawn on a canvas.

LeCun, Cortes and Burges describe how the MNIST digits were made from NIST's black and
white scans (http://yann.lecun.com/exdb/mnist/, archived at
https://web.archive.org/web/2024/http://yann.lecun.com/exdb/mnist/): "size normalized to
fit in a 20x20 pixel box while preserving their aspect ratio", with "grey levels as a
result of the anti-aliasing technique used by the normalization algorithm", then "centered
in a 28x28 image by computing the center of mass of the pixels, and translating the image
so as to position this point at the center of the 28x28 field". The page does not name the
anti-aliasing technique: area averaging, like the ink threshold, is this course's choice.

This module is the reference implementation of those steps for chapter 8's draw-a-digit
explorer; the explorer's JavaScript (``explorer_js/cnn_draw_digit.js``) does the same in
the reader's page, and the browser tests compare the two. Every step here is integer
arithmetic; the JavaScript computes the same integers in float64, exactly at these sizes,
so both give the same pixels:

1. :func:`ink`: a canvas pixel is ink when its opacity is at least 128 of 255 (a bilevel
   image, as NIST's scans were);
2. :func:`ink_bounding_box`: the smallest rectangle that holds all the ink, rows x columns;
3. :func:`fit_into_box`: that rectangle scaled by 20 / max(rows, columns), so its longer
   side becomes 20 pixels; each new pixel is the share of its area that ink covers (area
   averaging, the anti-aliasing), as 0 to 255;
4. :func:`centre_by_mass`: placed in 28 x 28 at the whole-pixel offset that brings its
   centre of mass closest to the centre of pixel (14, 14), where MNIST's digits have it
   (their mean centre of mass, counting pixel i's centre as i, is row 13.99, column 14.01).

Examples
--------
>>> canvas = np.zeros((280, 280), np.uint8)
>>> canvas[40:240, 130:150] = 255            # a vertical bar: a "1", 200 px tall, 20 px wide
>>> digit = preprocess_drawing(canvas)
>>> digit.shape, digit.dtype, np.flatnonzero(digit.max(axis=1)).tolist()[::19]
((28, 28), dtype('uint8'), [5, 24])
>>> np.flatnonzero(digit.max(axis=0)).tolist()
[14, 15]
"""

from __future__ import annotations

import numpy as np

BOX = 20        # the longer side of the ink's rectangle after scaling
FIELD = 28      # the side of an MNIST image
INK_OPACITY = 128


def ink(opacity) -> np.ndarray:
    """Where a canvas (S, S) of opacities 0 to 255 holds ink: a bool array of the same shape."""
    opacity = np.asarray(opacity)
    if opacity.ndim != 2:
        raise ValueError(f"opacity: expected a 2-D array of canvas opacities (0 to 255), got shape {opacity.shape}")
    return opacity >= INK_OPACITY


def ink_bounding_box(mask) -> tuple[int, int, int, int] | None:
    """(top, left, height, width) of the smallest rectangle holding every True pixel, or None."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _overlaps(n_source: int, longest: int) -> np.ndarray:
    """How much of source pixel p lies in new pixel i, in units of 1/BOX of a source pixel.

    Source pixel p spans [BOX p, BOX (p + 1)) and new pixel i spans [L i, L (i + 1)) in
    those units (L = ``longest``): the scale is BOX / L on both axes, which keeps the aspect
    ratio, and every length is an integer.
    """
    n_new = -(-BOX * n_source // longest)                       # ceil(BOX n / L)
    p, i = np.arange(n_source), np.arange(n_new)[:, None]
    return np.maximum(0, np.minimum(BOX * (p + 1), longest * (i + 1)) - np.maximum(BOX * p, longest * i))


def fit_into_box(mask) -> np.ndarray:
    """The ink's rectangle scaled so that its longer side is BOX pixels, as uint8 grey levels.

    A new pixel's grey level is 255 times the share of its area covered by ink, rounded
    half up: ``floor((510 n + L^2) / (2 L^2))`` with n the covered area in units of
    (1/BOX)^2 of a source pixel and L the rectangle's longer side.
    """
    box = ink_bounding_box(mask)
    if box is None:
        return np.zeros((0, 0), np.uint8)
    top, left, h, w = box
    longest = max(h, w)
    block = np.asarray(mask[top:top + h, left:left + w], dtype=np.int64)
    covered = _overlaps(h, longest) @ block @ _overlaps(w, longest).T
    return ((510 * covered + longest ** 2) // (2 * longest ** 2)).astype(np.uint8)


def centre_by_mass(image) -> np.ndarray:
    """``image`` (h, w) placed in FIELD x FIELD with its centre of mass on pixel (14, 14).

    With mass M = sum(v) and row moment R = sum(i v), counting pixel i's centre as i, the
    placed image's centre of mass is row top + R / M. MNIST's digits have theirs at the
    centre of pixel (FIELD / 2, FIELD / 2), to the nearest whole pixel (row 13.99, column
    14.01 on average over the test set). So ``top = round(FIELD / 2 - R / M)``, rounding
    half up: ``floor(((FIELD + 1) M - 2 R) / (2 M))``, computed in integers; the same for
    columns. Re-centring a test digit's own ink box this way gives the test digit back (for
    9,999 of the 10,000). Ink that would fall outside the field is cut off.
    """
    image = np.asarray(image, dtype=np.int64)
    field = np.zeros((FIELD, FIELD), np.uint8)
    mass = int(image.sum())
    if mass == 0:
        return field
    rows, cols = np.arange(image.shape[0]), np.arange(image.shape[1])
    top = ((FIELD + 1) * mass - 2 * int(image.sum(axis=1) @ rows)) // (2 * mass)
    left = ((FIELD + 1) * mass - 2 * int(image.sum(axis=0) @ cols)) // (2 * mass)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + image.shape[0], FIELD), min(left + image.shape[1], FIELD)
    field[r0:r1, c0:c1] = image[r0 - top:r1 - top, c0 - left:c1 - left]
    return field


def preprocess_drawing(opacity) -> np.ndarray:
    """A drawing (S, S) of canvas opacities 0 to 255 as an MNIST digit: uint8 (28, 28).

    Ink is kept where the opacity is at least 128, its bounding box scaled into 20 x 20
    with area averaging, and the result centred by its centre of mass in 28 x 28. An empty
    drawing gives an empty image.
    """
    return centre_by_mass(fit_into_box(ink(opacity)))
