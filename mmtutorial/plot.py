"""Figures the chapters draw again and again: training curves, image grids and schematics.

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


def schematic(
    boxes: Mapping[str, Mapping[str, Any]],
    arrows: Sequence[tuple] = (),
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (8.0, 3.0),
    ax: Axes | None = None,
) -> Figure:
    """Draw a diagram of boxes and arrows: what a chapter builds, at a glance.

    ``boxes`` maps a name to ``{"xy": (x, y), "text": "...", "color": "C0", "width": 1.6,
    "height": 0.6}`` (``xy`` is the center, in data units; only ``xy`` and ``text`` are
    required). ``arrows`` holds ``(start, end)`` or ``(start, end, label)`` name pairs; an
    arrow runs between the box edges, its label at its middle. The axes span the boxes with a
    margin and show no ticks.
    """
    check_type("boxes", boxes, Mapping, "a dict of name -> box")
    if not boxes:
        raise ValueError("boxes must hold at least one box")
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = check_type("ax", ax, Axes, "a matplotlib Axes or None").figure
    drawn = {}
    for name, box in boxes.items():
        if not isinstance(box, Mapping) or "xy" not in box or "text" not in box:
            raise ValueError(f"boxes[{name!r}] must be a dict with at least 'xy' and 'text', got {box!r}")
        (x, y), w, h = box["xy"], box.get("width", 1.6), box.get("height", 0.6)
        color = box.get("color", "C0")
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                    fc=color, ec="0.25", alpha=0.25, lw=1.2))
        ax.text(x, y, box["text"], ha="center", va="center", fontsize=box.get("fontsize", 9))
        drawn[name] = (x, y, w, h)
    for arrow in arrows:
        if len(arrow) not in (2, 3) or arrow[0] not in drawn or arrow[1] not in drawn:
            raise ValueError(f"arrows must be (start, end[, label]) with names of boxes {list(drawn)}, got {arrow!r}")
        (x0, y0, w0, h0), (x1, y1, w1, h1) = drawn[arrow[0]], drawn[arrow[1]]
        start, end = _edge_point(x0, y0, w0, h0, x1, y1), _edge_point(x1, y1, w1, h1, x0, y0)
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color="0.2", lw=1.2))
        if len(arrow) == 3 and arrow[2]:
            ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, arrow[2], ha="center", va="bottom",
                    fontsize=8, color="0.2", bbox=dict(fc="white", ec="none", alpha=0.8, pad=0.5))
    xs = [x for x, _, w, _ in drawn.values() for x in (x - w / 2, x + w / 2)]
    ys = [y for _, y, _, h in drawn.values() for y in (y - h / 2, y + h / 2)]
    ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
    ax.set_ylim(min(ys) - 0.3, max(ys) + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _edge_point(x: float, y: float, w: float, h: float, tx: float, ty: float) -> tuple[float, float]:
    """Where the segment from a box's center (x, y) towards (tx, ty) leaves the box."""
    dx, dy = tx - x, ty - y
    if dx == 0 and dy == 0:
        return x, y
    scale = min(w / 2 / abs(dx) if dx else math.inf, h / 2 / abs(dy) if dy else math.inf)
    return x + dx * scale, y + dy * scale
