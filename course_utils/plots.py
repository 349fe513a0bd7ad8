"""Figures that several chapters draw. Every function returns its matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so nothing is
left open in pyplot's global state and a notebook shows each figure exactly once.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def map_grid(maps, titles=None, ncols: int = 8, title: str | None = None, cmap: str = "viridis",
             normalise: bool = True, cell_inches: float = 1.1):
    """Draw maps (N, H, W) in a grid, each with its title; returns the Figure.

    With ``normalise`` each map is min-max scaled on its own
    (:func:`course_utils.activations.normalise_for_display`), so a constant map, such as a
    channel that ReLU switched off, is drawn as all zeros and titled "(all 0)".

    Examples
    --------
    >>> fig = map_grid(np.zeros((5, 4, 4)), titles=list("abcde"), ncols=3)
    >>> len(fig.axes), fig.axes[0].get_title()
    (5, 'a (all 0)')
    """
    from course_utils.activations import normalise_for_display

    maps = np.asarray(maps)
    if maps.ndim == 4 and maps.shape[-1] == 1:
        maps = maps[..., 0]
    if maps.ndim != 3:
        raise ValueError(f"maps: expected shape (N, H, W) or (N, H, W, 1), got {maps.shape}")
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"titles: expected {len(maps)} titles, one per map, got {len(titles)}")
    if ncols < 1:
        raise ValueError(f"ncols: expected a positive integer, got {ncols}")
    n = len(maps)
    constant = maps.reshape(n, -1).min(axis=1) == maps.reshape(n, -1).max(axis=1)
    shown = normalise_for_display(maps) if normalise else maps
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(ncols * cell_inches, nrows * cell_inches * 1.15 + (0.4 if title else 0)),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat[:n]):
        ax.imshow(shown[k], cmap=cmap, interpolation="nearest",
                  **({"vmin": 0, "vmax": 1} if normalise else {}))
        ax.set_axis_off()
        if titles is not None:
            dead = f" (all {maps[k].flat[0]:g})" if normalise and constant[k] else ""
            ax.set_title(f"{titles[k]}{dead}", fontsize=9)
    for ax in axes.flat[n:]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    return fig


def digit_grid(images, labels=None, ncols: int = 8, title: str | None = None, cell_inches: float = 1.1):
    """Draw grey-scale images in a grid, each titled with its label (ink dark, paper white).

    Examples
    --------
    >>> fig = digit_grid(np.zeros((4, 28, 28)), labels=[0, 1, 2, 3], ncols=2)
    >>> len(fig.axes)
    4
    """
    images = np.asarray(images)
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels: expected {len(images)} labels, one per image, got {len(labels)}")
    titles = None if labels is None else [str(label) for label in labels]
    try:
        return map_grid(images, titles, ncols=ncols, title=title, cmap="gray_r", normalise=False,
                        cell_inches=cell_inches)
    except ValueError as error:
        raise ValueError(str(error).replace("maps:", "images:", 1)) from None


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


def confusion_figure(matrix, class_names=None):
    """Draw a confusion matrix with counts in each cell; returns the Figure."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix: expected a square matrix, got shape {matrix.shape}")
    n = len(matrix)
    names = [str(k) for k in range(n)] if class_names is None else list(class_names)
    fig = Figure(figsize=(6, 5.2), layout="constrained")
    ax = fig.subplots()
    # Log scale so that the few mistakes are visible next to the ~1000 correct per class.
    image = ax.imshow(np.log10(matrix + 1), cmap="Blues")
    for t in range(n):
        for p in range(n):
            if matrix[t, p]:
                ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=8,
                        color="white" if t == p else "black")
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("confusion matrix (counts)")
    fig.colorbar(image, ax=ax, label="log10(count + 1)")
    return fig


def activation_trace(image, outputs: dict, channels: int = 8):
    """Follow one digit through a network: the image, then one row per layer output.

    ``outputs`` maps layer names to that layer's output for this one image: a map
    (H, W, C) draws its first ``channels`` channels, a vector (n,) is drawn as bars.
    """
    from course_utils.activations import normalise_for_display

    rows = [("input", np.asarray(image).squeeze())] + [(name, np.asarray(v)) for name, v in outputs.items()]
    fig = Figure(figsize=(channels * 1.0, 1.25 * len(rows)), layout="constrained")
    grid = fig.add_gridspec(len(rows), channels)
    for r, (name, value) in enumerate(rows):
        if value.ndim == 2:
            ax = fig.add_subplot(grid[r, 0])
            ax.imshow(value, cmap="gray_r")
            ax.set_axis_off()
            ax.set_title(f"{name} {value.shape[0]}x{value.shape[1]}", fontsize=8, loc="left")
        elif value.ndim == 3:
            maps = np.moveaxis(value[:, :, :channels], -1, 0)
            normalised = normalise_for_display(maps)
            for c in range(len(maps)):
                ax = fig.add_subplot(grid[r, c])
                ax.imshow(normalised[c], cmap="viridis", vmin=0, vmax=1)
                ax.set_axis_off()
                ax.set_title(f"{name}[{c}]", fontsize=8, loc="left")
        else:
            ax = fig.add_subplot(grid[r, :])
            ax.bar(np.arange(value.size), value.ravel(), width=1.0 if value.size > 20 else 0.8)
            ax.set_xlim(-0.5, value.size - 0.5)
            if value.size <= 20:
                ax.set_xticks(range(value.size))
            ax.set_title(f"{name} ({value.size} values)", fontsize=8, loc="left")
    return fig


def sweep_scatter(rows, x: str, xlabel: str, log_x: bool = True, floor: float | None = None,
                  metric: str = "val"):
    """Accuracy (mean and standard deviation over seeds) of each sweep variant against
    ``row[x]``, one colour per factor, each point labelled; returns the Figure.

    ``metric`` names the rows' ``<metric>_mean`` and ``<metric>_std`` to plot: ``"val"``
    (validation, what the sweep records) or ``"test"`` (rows made elsewhere).

    ``rows`` are :func:`course_utils.experiments.sweep.summarise` rows. Variants whose accuracy is
    below ``floor`` are left out of the axes (they would squash the others into a line)
    and named, with their accuracy, under the plot.

    Examples
    --------
    >>> rows = [{"factor": "f", "value": "a", "parameters": 10, "val_mean": 0.9, "val_std": 0.01},
    ...         {"factor": "g", "value": "b", "parameters": 100, "val_mean": 0.95, "val_std": 0.0}]
    >>> len(sweep_scatter(rows, "parameters", "parameters").axes[0].texts)
    2
    """
    if not rows:
        raise ValueError("rows: expected at least one summary row of the sweep, got none")
    if metric not in ("test", "val"):
        raise ValueError(f"metric: expected 'test' or 'val', got {metric!r}")
    mean, std = f"{metric}_mean", f"{metric}_std"
    fig = Figure(figsize=(8, 4.6), layout="constrained")
    ax = fig.subplots()
    below = [row for row in rows if floor is not None and row[mean] < floor]
    rows = [row for row in rows if row not in below]
    if below:
        ax.set_title("not shown, below {}: {}".format(floor, ", ".join(
            f"{r['value']} ({r[mean]:.2f})" for r in below)), fontsize=9, loc="left")
    factors = list(dict.fromkeys(row["factor"] for row in rows))
    colours = {f: c for f, c in zip(factors, [f"C{i}" for i in range(10)])}
    for factor in factors:
        mine = [row for row in rows if row["factor"] == factor]
        ax.errorbar([r[x] for r in mine], [r[mean] for r in mine],
                    yerr=[0 if r[std] != r[std] else r[std] for r in mine],
                    fmt="o", capsize=3, color=colours[factor], label=factor)
        for r in mine:
            ax.annotate(r["value"], (r[x], r[mean]), textcoords="offset points",
                        xytext=(5, 4), fontsize=8, color=colours[factor])
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{'validation' if metric == 'val' else 'test'} accuracy (mean ± sd over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig
