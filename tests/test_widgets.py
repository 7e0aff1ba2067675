"""Tests for mmtutorial.widgets: the sweep figure and explorer, headless (no display, no kernel)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmtutorial.widgets import sweep_explorer, sweep_figure  # noqa: E402

GRID = {"alpha": [0, 0.1, 1], "beta": [0, 1]}
RESULTS = {
    "fused": np.array([[0.90, 0.91], [0.92, 0.95], [0.89, 0.93]]),
    "image": np.array([[0.10, 0.12], [0.70, 0.72], [0.75, 0.74]]),
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_sweep_figure_two_knobs_heatmap_and_bars():
    fig = sweep_figure(GRID, RESULTS, {"alpha": 0.1, "beta": 1}, title="sweep")
    assert isinstance(fig, Figure)
    heat, bars, _ = fig.get_axes()  # heatmap, bars, the colorbar
    np.testing.assert_allclose(heat.get_images()[0].get_array(), RESULTS["fused"])
    frame = heat.patches[0]
    assert frame.get_xy() == (0.5, 0.5)  # column beta = 1, row alpha = 0.1
    assert [p.get_height() for p in bars.patches] == pytest.approx([0.95, 0.72])
    assert fig._suptitle.get_text() == "sweep: alpha = 0.1, beta = 1"


def test_sweep_figure_one_knob_curves_and_heatmap_choice():
    fig = sweep_figure({"tau": [0.1, 1, 10]}, {"acc": [0.5, 0.8, 0.6], "loss": [2, 1, 3]}, {"tau": 10},
                       ylabel="value")
    curves, bars = fig.get_axes()
    assert [line.get_label() for line in curves.get_lines()[:2]] == ["acc", "loss"]
    assert [p.get_height() for p in bars.patches] == pytest.approx([0.6, 3.0])
    fig = sweep_figure(GRID, RESULTS, {"alpha": 0, "beta": 0}, heatmap="image")
    np.testing.assert_allclose(fig.get_axes()[0].get_images()[0].get_array(), RESULTS["image"])


def test_sweep_explorer_builds_without_a_display_and_updates(capsys):
    explorer = sweep_explorer(GRID, RESULTS)
    sliders = explorer.children[:-1]
    assert [s.description for s in sliders] == ["alpha", "beta"]
    assert explorer.kwargs == {"alpha": 0.1, "beta": 1.0}  # starts at the best fused point
    assert list(sliders[0].options) == [("0", 0.0), ("0.1", 0.1), ("1", 1.0)]
    sliders[0].value = 1.0
    assert explorer.kwargs == {"alpha": 1.0, "beta": 1.0}
    assert plt.get_fignums() == []  # each drawn figure is closed after display
    assert "Figure" in capsys.readouterr().out  # outside a kernel, display() prints the figure


def test_sweep_explorer_start_point():
    explorer = sweep_explorer(GRID, RESULTS, heatmap="image", start={"alpha": 0, "beta": 0})
    assert explorer.kwargs == {"alpha": 0.0, "beta": 0.0}
    assert sweep_explorer(GRID, RESULTS, heatmap="image").kwargs == {"alpha": 1.0, "beta": 0.0}


def test_sweep_figure_accepts_numpy_grid_values_and_nan_results():
    results = {"acc": np.array([0.5, np.nan, 0.7])}  # NaN: a point without a result
    fig = sweep_figure({"tau": np.array([0.1, 1.0, 10.0])}, results, {"tau": 1})
    assert np.isnan(fig.get_axes()[1].patches[0].get_height())
    assert sweep_explorer({"tau": [0.1, 1, 10]}, results).kwargs == {"tau": 10.0}


def test_sweep_rejects_a_non_dict_grid():
    with pytest.raises(TypeError, match="grid must be a dict"):
        sweep_figure([0, 1], RESULTS, {})


def test_sweep_rejects_three_knobs():
    with pytest.raises(ValueError, match="grid must be a dict of 1 or 2"):
        sweep_figure({"a": [1], "b": [1], "c": [1]}, RESULTS, {})


def test_sweep_rejects_knob_names_that_are_not_identifiers():
    with pytest.raises(ValueError, match="grid keys must be identifiers"):
        sweep_figure({"not ok": [1]}, {"m": [1]}, {})


def test_sweep_rejects_non_number_grid_values():
    with pytest.raises(TypeError, match=r"grid\['alpha'\]\[0\] must be a number, got 'x'"):
        sweep_figure({"alpha": ["x"]}, {"m": [1]}, {})


def test_sweep_rejects_infinite_grid_values():
    with pytest.raises(ValueError, match=r"grid\['alpha'\]\[1\] must be a finite number, got inf"):
        sweep_explorer({"alpha": [0, float("inf")]}, {"m": [1, 2]})


def test_sweep_rejects_repeated_grid_values():
    with pytest.raises(ValueError, match=r"grid\['alpha'\] must be a non-empty list of distinct"):
        sweep_figure({"alpha": [1, 1]}, {"m": [1, 2]}, {})


def test_sweep_rejects_empty_results():
    with pytest.raises(ValueError, match="results must name at least one metric"):
        sweep_figure(GRID, {}, {})


def test_sweep_rejects_results_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"results\['fused'\] must have shape \(3, 2\)"):
        sweep_figure(GRID, {"fused": np.zeros((2, 3))}, {})


def test_sweep_rejects_a_point_missing_a_knob():
    with pytest.raises(ValueError, match="point must be a dict with the keys"):
        sweep_figure(GRID, RESULTS, {"alpha": 0})


def test_sweep_rejects_a_point_off_the_grid():
    with pytest.raises(ValueError, match=r"point\['alpha'\] must be one of the grid values"):
        sweep_figure(GRID, RESULTS, {"alpha": 5, "beta": 0})


def test_sweep_rejects_an_unknown_heatmap_metric():
    with pytest.raises(ValueError, match="heatmap must be one of"):
        sweep_explorer(GRID, RESULTS, heatmap="tone")


def test_sweep_explorer_names_start_in_its_errors():
    with pytest.raises(ValueError, match=r"start\['beta'\] must be one of the grid values"):
        sweep_explorer(GRID, RESULTS, start={"alpha": 0, "beta": 3})
