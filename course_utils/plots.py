"""Figures that several chapters draw. Every function returns its matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing is
left open in pyplot's global state and a notebook shows each figure exactly once.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def digit_grid(images, labels=None, ncols: int = 8, title: str | None = None, cell_inches: float = 1.1):
    """Draw grey-scale images in a grid, each titled with its label.

    Parameters
    ----------
    images : array (N, W, W) or (N, W, W, 1)
    labels : sequence of N labels, optional
    ncols : int
        Images per row.

    Examples
    --------
    >>> fig = digit_grid(np.zeros((4, 28, 28)), labels=[0, 1, 2, 3], ncols=2)
    >>> len(fig.axes)
    4
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images: expected shape (N, W, W) or (N, W, W, 1), got {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels: expected {len(images)} labels, one per image, got {len(labels)}")
    if ncols < 1:
        raise ValueError(f"ncols: expected a positive integer, got {ncols}")
    n = len(images)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(ncols * cell_inches, nrows * cell_inches * 1.15), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= n:
            continue
        ax.imshow(images[k], cmap="gray_r", interpolation="nearest")
        if labels is not None:
            ax.set_title(str(labels[k]), fontsize=10)
    for ax in axes.flat[n:]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    return fig
