"""Plotting helpers return a Figure with the panels and titles asked for."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils.plots import digit_grid


def test_digit_grid_panels_and_titles():
    fig = digit_grid(np.arange(10 * 28 * 28).reshape(10, 28, 28), labels=list(range(10)), ncols=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10  # 3 rows of 4, the two spare axes removed
    assert [ax.get_title() for ax in fig.axes] == [str(k) for k in range(10)]


def test_digit_grid_accepts_channel_axis():
    assert len(digit_grid(np.zeros((3, 28, 28, 1)), ncols=8).axes) == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"images": np.zeros((28, 28))}, "images"),
    ({"images": np.zeros((2, 28, 28)), "labels": [1]}, "labels"),
    ({"images": np.zeros((2, 28, 28)), "ncols": 0}, "ncols"),
])
def test_digit_grid_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        digit_grid(**kwargs)


def test_sweep_scatter_names_what_it_leaves_out():
    from course_utils.plots import sweep_scatter

    rows = [{"factor": "head", "value": "gap", "parameters": 10, "val_mean": 0.5, "val_std": 0.02},
            {"factor": "filters", "value": "8", "parameters": 100, "val_mean": 0.98, "val_std": 0.001}]
    ax = sweep_scatter(rows, "parameters", "parameters", floor=0.9).axes[0]
    assert [t.get_text() for t in ax.texts] == ["8"]
    assert "gap (0.50)" in ax.get_title(loc="left")
