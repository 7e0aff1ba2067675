"""Interactive explorers (ipywidgets) for results computed beforehand, with a static twin.

An explorer never trains anything: a chapter first runs a small sweep over a grid of knobs
(loss weights, a temperature, a noise level), then lets the reader move sliders over that
grid. Moving a slider only redraws, so it is instant, and the widget state saved in the
notebook still shows a figure in the online book, where no kernel runs. The drawing is a
plain function, :func:`sweep_figure`, that returns a matplotlib Figure and works without a
display. The chapter *The mathematical model and its losses* introduces both for the loss
weights (alpha, beta).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._checks import check_choice, check_number, check_type

Grid = Mapping[str, Sequence[float]]


def _check_sweep(grid: Any, results: Any) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    check_type("grid", grid, Mapping, "a dict of knob names -> lists of values")
    if not 1 <= len(grid) <= 2:
        raise ValueError(f"grid must be a dict of 1 or 2 knob names -> lists of values, got {grid!r}")
    checked_grid = {}
    for name, values in grid.items():
        check_type("grid keys", name, str, "str")
        if not name.isidentifier():  # the names become keyword arguments of the slider callback
            raise ValueError(f"grid keys must be identifiers such as 'alpha', got {name!r}")
        values = values.tolist() if hasattr(values, "tolist") else values  # a NumPy array or a tensor
        values = [check_number(f"grid[{name!r}][{i}]", v) for i, v in enumerate(values)]
        if not values or len(set(values)) != len(values):
            raise ValueError(f"grid[{name!r}] must be a non-empty list of distinct numbers, got {values!r}")
        checked_grid[name] = values
    shape = tuple(len(v) for v in checked_grid.values())
    check_type("results", results, Mapping, f"a dict of metric name -> array of shape {shape}")
    if not results:
        raise ValueError(f"results must name at least one metric (an array of shape {shape}), got {{}}")
    checked_results = {}
    for metric, table in results.items():
        array = np.asarray(table, dtype=float)
        if array.shape != shape:
            raise ValueError(f"results[{metric!r}] must have shape {shape} (one value per grid point), got {array.shape}")
        checked_results[str(metric)] = array
    return checked_grid, checked_results


def _index(grid: dict[str, list[float]], point: Any, arg: str = "point") -> tuple[int, ...]:
    check_type(arg, point, Mapping, f"a dict with the keys {list(grid)}")
    if set(point) != set(grid):
        raise ValueError(f"{arg} must be a dict with the keys {list(grid)}, got {point!r}")
    index = []
    for name, values in grid.items():
        value = check_number(f"{arg}[{name!r}]", point[name])
        matches = [i for i, v in enumerate(values) if math.isclose(v, value, rel_tol=1e-9, abs_tol=1e-12)]
        if not matches:
            raise ValueError(f"{arg}[{name!r}] must be one of the grid values {values}, got {point[name]!r}")
        index.append(matches[0])
    return tuple(index)


def sweep_figure(
    grid: Grid,
    results: Mapping[str, Any],
    point: Mapping[str, float],
    *,
    heatmap: str | None = None,
    title: str | None = None,
    ylabel: str = "accuracy",
) -> Figure:
    """Draw a sweep's results at one grid ``point``.

    ``grid``: 1 or 2 knobs, e.g. ``{"alpha": [0, 1, 10], "beta": [0, 1, 10]}``, each a list of
    distinct finite numbers; ``results``: metric name -> array of shape
    ``(len(grid[k1]), len(grid[k2]))`` (or ``(len(grid[k1]),)`` for one knob), where NaN marks
    a point without a result; ``point``: the chosen value of each knob, one of its grid values.
    Left: for two knobs, a heatmap of ``results[heatmap]`` (default: the first metric) with the
    point framed; for one knob, every metric against the knob with the point marked.
    Right: every metric at the point, as bars.
    """
    grid, results = _check_sweep(grid, results)
    heatmap = next(iter(results)) if heatmap is None else check_choice("heatmap", heatmap, list(results))
    index = _index(grid, point)
    names = list(grid)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.4), gridspec_kw={"width_ratios": [1.2, 1]})
    if len(names) == 2:
        table = results[heatmap]
        image = left.imshow(table, cmap="viridis", origin="lower", aspect="auto")
        fig.colorbar(image, ax=left, fraction=0.05)
        for (i, j), value in np.ndenumerate(table):
            left.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                      color="white" if value < np.nanmean(table) else "black")
        left.add_patch(Rectangle((index[1] - 0.5, index[0] - 0.5), 1, 1, fill=False, lw=3, ec="red"))
        left.set_yticks(range(len(grid[names[0]])), [f"{v:g}" for v in grid[names[0]]])
        left.set_xticks(range(len(grid[names[1]])), [f"{v:g}" for v in grid[names[1]]])
        left.set_ylabel(names[0])
        left.set_xlabel(names[1])
        left.set_title(heatmap)
    else:
        x = range(len(grid[names[0]]))
        for metric, values in results.items():
            left.plot(x, values, marker="o", label=metric)
        left.axvline(index[0], color="red", lw=2)
        left.set_xticks(x, [f"{v:g}" for v in grid[names[0]]])
        left.set_xlabel(names[0])
        left.set_ylabel(ylabel)
        left.legend(fontsize=8)
    values = [float(results[m][index]) for m in results]
    bars = right.bar(range(len(values)), values, color=[f"C{i}" for i in range(len(values))])
    right.bar_label(bars, fmt="%.3f", fontsize=8)
    right.set_xticks(range(len(values)), list(results))
    right.set_ylabel(ylabel)
    finite = [v for v in values if math.isfinite(v)]
    if finite and 0 <= min(finite) and max(finite) <= 1:
        right.set_ylim(0, 1.1)
    at = ", ".join(f"{n} = {grid[n][i]:g}" for n, i in zip(names, index))
    fig.suptitle(f"{title}: {at}" if title else at)
    fig.tight_layout()
    return fig


def sweep_explorer(
    grid: Grid,
    results: Mapping[str, Any],
    *,
    heatmap: str | None = None,
    start: Mapping[str, float] | None = None,
    title: str | None = None,
    ylabel: str = "accuracy",
):
    """Sliders over a precomputed sweep that redraw :func:`sweep_figure`.

    One slider per knob of ``grid`` (its values only); ``start`` is the first point shown
    (default: the best point of the heatmap metric). Returns an ``ipywidgets.interactive``:
    display it (the last line of a cell) to see it. Needs no display to be built.
    """
    import ipywidgets as widgets  # here, so that importing this module stays light
    from IPython.display import display

    grid, results = _check_sweep(grid, results)
    heatmap = next(iter(results)) if heatmap is None else check_choice("heatmap", heatmap, list(results))
    if start is None:
        best = np.unravel_index(np.nanargmax(results[heatmap]), results[heatmap].shape)
        start = {n: grid[n][i] for n, i in zip(grid, best)}
    index = _index(grid, start, "start")
    sliders = {
        name: widgets.SelectionSlider(
            options=[(f"{v:g}", v) for v in values], value=values[i], description=name, continuous_update=False
        )
        for (name, values), i in zip(grid.items(), index)
    }

    def show(**point: float) -> None:
        fig = sweep_figure(grid, results, point, heatmap=heatmap, title=title, ylabel=ylabel)
        display(fig)
        plt.close(fig)

    return widgets.interactive(show, **sliders)
