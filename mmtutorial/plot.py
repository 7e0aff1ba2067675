"""Figures the chapters draw again and again: training curves and image grids.

Every function returns its matplotlib Figure and never calls ``plt.show()``, so it
works the same in a notebook, in a script and on a machine without a display.
In a notebook, assign the result (``fig = plot_history(h)``) or end the line with
``;`` so the figure is shown once.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._checks import check_int, check_same_length, check_type

_PER_STEP_KEYS = ("step_loss", "lr", "grad_norm")


def _metric_name(key: str) -> str:
    for prefix in ("train_", "val_"):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot training curves from a :class:`~mmtutorial.train.Trainer` history.

    One panel per quantity (``loss``, ``acc``, ...) with the train and validation
    curves against the epoch; ``step_loss`` is drawn faintly behind the epoch loss
    when present. ``keys`` picks which entries to draw (default: every per-epoch
    entry); with ``ax`` everything goes into that one axes.
    """
    check_type("history", history, Mapping, "a dict of lists (Trainer.history)")
    if keys is None:
        keys = [k for k in history if k not in _PER_STEP_KEYS and k != "epoch" and len(history[k]) > 0]
        if "step_loss" in history and len(history["step_loss"]) > 0:
            keys = ["step_loss", *keys]
        if not keys:
            raise ValueError("history has nothing to plot: every list in it is empty")
    elif isinstance(keys, str) or not isinstance(keys, Sequence):
        raise TypeError(f"keys must be a list of history keys or None, got {type(keys).__name__}")
    elif len(keys) == 0:
        raise ValueError("keys must name at least one history entry, got an empty list")
    missing = [k for k in keys if k not in history]
    if missing:
        raise ValueError(f"keys {missing} are not in history; available: {sorted(history)}")

    # Group keys into panels: train_loss, val_loss and step_loss share the "loss" panel.
    groups: dict[str, list[str]] = {}
    for k in keys:
        name = "loss" if k == "step_loss" else _metric_name(k)
        groups.setdefault(name, []).append(k)

    if ax is None:
        n = len(groups)
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.2), squeeze=False)
        panels = list(axes[0])
    else:
        check_type("ax", ax, Axes, "a matplotlib Axes or None")
        fig, panels = ax.figure, [ax] * len(groups)

    epochs = list(history.get("epoch", []))
    for panel, (name, group) in zip(panels, groups.items()):
        for k in group:
            y = np.asarray(history[k], dtype=float)
            if k == "step_loss":
                # Spread the steps over the epochs they belong to (uniform steps per epoch).
                span = epochs[-1] if epochs else 1.0
                x = np.arange(1, len(y) + 1) * (span / max(len(y), 1))
                panel.plot(x, y, color="0.6", lw=0.8, alpha=0.6, label=k)
            else:
                if len(epochs) >= len(y):
                    x = np.asarray(epochs[: len(y)], dtype=float)
                else:
                    x = np.arange(1, len(y) + 1)
                style = "--" if k.startswith("val_") else "-"
                panel.plot(x, y, style, marker="o", ms=3, label=k)
        panel.set_xlabel("epoch")
        panel.set_ylabel(name)
        panel.grid(alpha=0.3)
        panel.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _to_numpy_images(images: Any) -> np.ndarray:
    if isinstance(images, (str, bytes)) or not isinstance(images, (torch.Tensor, np.ndarray, Sequence)):
        raise TypeError(f"images must be a tensor, an array or a list of them, got {type(images).__name__}")
    if isinstance(images, Sequence):
        if len(images) == 0:
            raise ValueError("images must hold at least one image, got an empty list")
        return np.stack([_to_numpy_images(im) for im in images])
    if images.dtype in (torch.uint8, np.uint8):  # 0-255 pixels would all clip to white
        raise TypeError("images must hold floats in [0, 1], got uint8 pixels (0-255): divide them by 255 first")
    if isinstance(images, torch.Tensor):
        return images.detach().float().cpu().numpy()
    return images.astype(float)


def show_images(
    images: Any,
    captions: Sequence[str] | None = None,
    ncols: int = 8,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Show a grid of images with optional captions as titles.

    ``images``: (N, 3, H, W) color or (N, H, W) / (N, 1, H, W) gray, a tensor, an array or
    a list of single images, with values in [0, 1] (values outside are clipped; uint8
    pixels in 0-255 raise TypeError). ``captions``: one string per image. Long captions wrap.
    """
    arr = _to_numpy_images(images)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[1] not in (1, 3)):
        raise ValueError(f"images must have shape (N, 3, H, W), (N, 1, H, W) or (N, H, W), got {arr.shape}")
    if arr.ndim == 4:
        arr = arr.transpose(0, 2, 3, 1)  # (N, H, W, C)
        if arr.shape[-1] == 1:
            arr = arr[..., 0]  # (N, H, W)
    n = arr.shape[0]
    if n == 0:
        raise ValueError("images must hold at least one image, got N=0")
    if captions is not None:
        if isinstance(captions, str) or not isinstance(captions, Sequence):
            raise TypeError(f"captions must be a list of N={n} strings or None, got {type(captions).__name__}")
        check_same_length(images=arr, captions=captions)
    ncols = check_int("ncols", ncols, min=1)

    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    if figsize is None:
        figsize = (1.6 * ncols, (1.6 + (0.45 if captions is not None else 0.0)) * nrows)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    width = max(8, int(figsize[0] / ncols * 14))  # characters per caption line at 8 pt
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(np.clip(arr[i], 0.0, 1.0), cmap="gray" if arr.ndim == 3 else None, vmin=0.0, vmax=1.0)
        if captions is not None:
            ax.set_title(textwrap.fill(str(captions[i]), width), fontsize=8)
    fig.tight_layout()
    return fig
