"""Tests for mmtutorial.plot: training curves and image grids (headless)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmtutorial.plot import plot_history, show_images  # noqa: E402

HISTORY = {
    "epoch": [1.0, 2.0, 3.0],
    "train_loss": [1.0, 0.6, 0.4],
    "train_acc": [0.5, 0.7, 0.8],
    "step_loss": [1.2, 1.0, 0.8, 0.7, 0.6, 0.5],
    "lr": [0.1] * 6,
    "val_loss": [0.9, 0.7, 0.5],
    "val_acc": [0.55, 0.65, 0.75],
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_history_one_panel_per_quantity():
    fig = plot_history(HISTORY)
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["loss", "acc"]
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert labels == ["step_loss", "train_loss", "val_loss"]  # lr is not plotted by default
    np.testing.assert_allclose(axes[0].get_lines()[0].get_xdata()[-1], 3.0)  # steps span the epochs


def test_plot_history_selected_keys_into_given_axes():
    fig, ax = plt.subplots()
    out = plot_history(HISTORY, keys=["train_loss", "val_loss"], ax=ax)
    assert out is fig and len(ax.get_lines()) == 2


def test_plot_history_without_epoch_entry():
    fig = plot_history({"train_loss": [3.0, 2.0]})
    np.testing.assert_array_equal(fig.get_axes()[0].get_lines()[0].get_xdata(), [1, 2])


def test_plot_history_draws_the_per_step_keys_when_asked():
    fig = plot_history({**HISTORY, "grad_norm": [1.0] * 6}, keys=["lr", "grad_norm"])
    assert [ax.get_ylabel() for ax in fig.get_axes()] == ["lr", "grad_norm"]


def test_plot_history_rejects_a_non_dict():
    with pytest.raises(TypeError, match="history must be a dict of lists"):
        plot_history([1, 2])


def test_plot_history_rejects_an_empty_history():
    with pytest.raises(ValueError, match="nothing to plot"):
        plot_history({"train_loss": [], "step_loss": []})


def test_plot_history_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"keys \['nope'\] are not in history"):
        plot_history(HISTORY, keys=["nope"])


def test_plot_history_rejects_a_single_string_of_keys():
    with pytest.raises(TypeError, match="keys must be a list of history keys or None, got str"):
        plot_history(HISTORY, keys="train_loss")


def test_plot_history_rejects_an_empty_list_of_keys():
    with pytest.raises(ValueError, match="keys must name at least one history entry"):
        plot_history(HISTORY, keys=[])


def test_plot_history_rejects_a_non_axes_ax():
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes or None, got str"):
        plot_history(HISTORY, ax="left")


def test_show_images_color_grid_with_wrapped_captions():
    images = torch.rand(5, 3, 8, 8)
    captions = ["a small red square"] * 4 + ["a very long caption " * 4]
    fig = show_images(images, captions, ncols=3)
    axes = fig.get_axes()
    assert len(axes) == 6  # 2 rows x 3 columns, the last one empty
    assert axes[0].get_title() == "a small red square"
    assert "\n" in axes[4].get_title()
    assert axes[0].get_images()[0].get_array().shape == (8, 8, 3)
    assert not axes[5].get_images()


@pytest.mark.parametrize(
    "images",
    [
        np.random.rand(3, 6, 6),
        torch.rand(3, 1, 6, 6),
        [torch.rand(6, 6) for _ in range(3)],
        torch.rand(3, 6, 6) * 3,  # out of range: clipped
    ],
)
def test_show_images_gray_inputs(images):
    fig = show_images(images)
    axes = fig.get_axes()
    assert len(axes) == 3
    data = axes[0].get_images()[0].get_array()
    assert data.shape == (6, 6) and data.max() <= 1.0  # clipped to [0, 1]


def test_show_images_rejects_a_wrong_number_of_axes():
    with pytest.raises(ValueError, match=r"images must have shape .*, got \(6, 6\)"):
        show_images(torch.rand(6, 6))


def test_show_images_rejects_two_channels():
    with pytest.raises(ValueError, match=r"images must have shape .*, got \(2, 2, 6, 6\)"):
        show_images(torch.rand(2, 2, 6, 6))


def test_show_images_rejects_no_images():
    with pytest.raises(ValueError, match="images must hold at least one image, got N=0"):
        show_images(torch.rand(0, 6, 6))
    with pytest.raises(ValueError, match="images must hold at least one image, got an empty list"):
        show_images([])


def test_show_images_rejects_uint8_pixels():
    # 0-255 values would all clip to white
    with pytest.raises(TypeError, match="uint8 pixels"):
        show_images(np.full((2, 6, 6), 128, dtype=np.uint8))


def test_show_images_rejects_a_non_image_input():
    with pytest.raises(TypeError, match="images must be a tensor, an array or a list of them, got str"):
        show_images("pixels")


def test_show_images_rejects_one_caption_too_few():
    with pytest.raises(ValueError, match="images, captions must have the same length, got images 2, captions 1"):
        show_images(torch.rand(2, 6, 6), captions=["one"])


def test_show_images_rejects_a_single_string_caption():
    with pytest.raises(TypeError, match="captions must be a list"):
        show_images(torch.rand(2, 6, 6), captions="ab")


def test_show_images_rejects_zero_columns():
    with pytest.raises(ValueError, match="ncols must be an int >= 1, got 0"):
        show_images(torch.rand(2, 6, 6), ncols=0)


def test_schematic_draws_boxes_and_arrows_between_their_edges():
    from mmtutorial.plot import schematic

    fig = schematic({"img": {"xy": (0, 0), "text": "image"}, "enc": {"xy": (3, 0), "text": "encoder", "color": "C1"}},
                    [("img", "enc", "pixels")], title="a pipeline")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts if t.get_text()] == ["image", "encoder", "pixels"]
    arrow = next(c for c in ax.get_children() if type(c).__name__ == "Annotation" and not c.get_text())
    assert arrow.xy == (3 - 0.8, 0.0) and arrow.xyann == (0.8, 0.0)  # edge to edge, not center to center
    plt.close(fig)
    with pytest.raises(ValueError, match="arrows must be"):
        schematic({"a": {"xy": (0, 0), "text": "a"}}, [("a", "missing")])
