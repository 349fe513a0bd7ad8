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


def _imshow(ax, image, title: str, cmap: str = "gray_r", symmetric: bool = False):
    """Show one map; a signed map gets a colour scale centred on zero so its sign is visible."""
    image = np.asarray(image, dtype=float)
    if symmetric:
        limit = float(np.abs(image).max()) or 1.0  # an all-zero map stays drawable
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    else:
        ax.imshow(image, cmap=cmap, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def filter_responses(image, filters: dict, responses: dict, cell_inches: float = 1.7):
    """Draw an image, then for each named filter the filter (top) and its response (bottom).

    ``filters`` and ``responses`` map the same names to an H x H filter and to the
    response map. Signed maps use a red (positive) / blue (negative) scale.
    """
    if set(filters) != set(responses):
        raise ValueError(f"responses: expected the same names as filters {sorted(filters)}, "
                         f"got {sorted(responses)}")
    n = len(filters)
    fig = Figure(figsize=((n + 1) * cell_inches, 2 * cell_inches + 0.3), layout="constrained")
    axes = fig.subplots(2, n + 1, squeeze=False)
    _imshow(axes[0, 0], image, "image x")
    axes[1, 0].set_axis_off()
    for col, name in enumerate(filters, start=1):
        _imshow(axes[0, col], filters[name], f"filter: {name}", symmetric=True)
        _imshow(axes[1, col], responses[name], f"response: {name}", symmetric=True)
    return fig


def sliding_positions(W: int, H: int, stride: int = 1, padding=0, max_drawn: int = 6):
    """Draw a W x W image (grey), its zero padding (white), and the filter's positions.

    The first ``max_drawn`` window positions along the top row are outlined, and every
    window's top-left corner is dotted, so the output size can be counted by eye.
    """
    from matplotlib.patches import Rectangle

    from course_utils import ops

    W_out = ops.output_size(W, H, stride, padding)
    if padding == "same":
        before, after = ops.same_padding(W, H, stride)
    else:
        before = after = 0 if padding == "valid" else int(padding)
    side = W + before + after
    fig = Figure(figsize=(4.2, 4.4), layout="constrained")
    ax = fig.subplots()
    grid = np.zeros((side, side))
    grid[before:before + W, before:before + W] = 1
    ax.imshow(grid, cmap="Greys", vmin=0, vmax=3.5, extent=(0, side, side, 0))
    ax.set_xticks(np.arange(side + 1))
    ax.set_yticks(np.arange(side + 1))
    ax.grid(color="0.6", linewidth=0.5)
    ax.tick_params(length=0, labelbottom=False, labelleft=False)
    colours = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown"]
    for j in range(min(W_out, max_drawn)):
        ax.add_patch(Rectangle((j * stride + 0.08 * j, 0.08 * j), H, H, fill=False, linewidth=2,
                               edgecolor=colours[j % len(colours)]))
    corners = np.arange(W_out) * stride + 0.5
    xx, yy = np.meshgrid(corners, corners)
    ax.plot(xx.ravel(), yy.ravel(), "k.", markersize=4)
    ax.set_xlim(-0.1, side + 0.1 * min(W_out, max_drawn))
    ax.set_ylim(side + 0.1 * min(W_out, max_drawn), -0.1)
    ax.set_title(f"W={W}, H={H}, s={stride}, padding={padding!r} -> W'={W_out}", fontsize=10)
    return fig
