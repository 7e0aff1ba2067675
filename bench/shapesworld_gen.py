"""Vectorised ShapesWorld rendering against a per-sample Python loop, side by side.

    .venv/bin/python bench/shapesworld_gen.py           # n = 20,000 (Chapter 01's size)
    .venv/bin/python bench/shapesworld_gen.py --quick   # n = 2,000

Both renderers draw the same sampled scenes. The loop version below is the straightforward way
to write it: one image at a time, an if/elif per shape. The script first checks that the two
produce the same images (noise off, so no random draws differ), then times them and prints
the ratio. It also times the whole `make_shapesworld(n)` (images + captions + tokens).
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # run from a checkout

from mmtutorial.data.shapesworld import (  # noqa: E402
    SHAPES,
    SIZE_RADIUS,
    Scenes,
    make_shapesworld,
    pixel_centers,
    render_images,
    sample_scenes,
)


def render_images_loop(scenes: Scenes, image_size: int = 32, noise: float = 0.05, generator=None) -> torch.Tensor:
    """The same rendering as `render_images`, one sample at a time. (N, 3, H, W)"""
    H = image_size
    coords = pixel_centers(H)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")  # (H, W) each
    images = []
    for i in range(len(scenes)):
        x = xs - torch.tensor(scenes.cx[i], dtype=torch.float32)
        y = ys - torch.tensor(scenes.cy[i], dtype=torch.float32)
        r = torch.tensor(SIZE_RADIUS[scenes.size[i]], dtype=torch.float32)
        shape = SHAPES[scenes.shape[i]]
        if shape == "circle":
            sdf = torch.sqrt(x * x + y * y) - r
        elif shape == "square":
            sdf = torch.maximum(x.abs(), y.abs()) - 0.88 * r
        elif shape == "triangle":
            R = 1.35 * r
            sdf = torch.maximum(y - 0.5 * R, (math.sqrt(3) / 2) * x.abs() - 0.5 * y - 0.5 * R)
        elif shape == "diamond":
            sdf = (x.abs() + y.abs() - 1.25 * r) / math.sqrt(2)
        else:  # cross
            w = 0.35 * r
            sdf = torch.minimum(
                torch.maximum(x.abs() - r, y.abs() - w), torch.maximum(x.abs() - w, y.abs() - r)
            )
        cover = (0.5 - sdf * (H / 2)).clamp(0.0, 1.0)  # (H, W)
        level = torch.tensor(scenes.bg_level[i], dtype=torch.float32)
        tint = torch.tensor(scenes.bg_tint[i], dtype=torch.float32).view(3, 1, 1)
        gx, gy = torch.tensor(scenes.bg_grad[i], dtype=torch.float32)
        background = level + tint + (gx * xs + gy * ys)  # (3, H, W)
        rgb = torch.tensor(scenes.rgb[i], dtype=torch.float32).view(3, 1, 1)
        image = background * (1 - cover) + rgb * cover
        if noise > 0:
            image = image + noise * torch.randn(3, H, H, generator=generator)
        images.append(image.clamp(0.0, 1.0))
    return torch.stack(images)


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 2,000 instead of 20,000")
    parser.add_argument("--repeat", type=int, default=3, help="timings keep the best of this many runs")
    args = parser.parse_args()
    n = 2_000 if args.quick else 20_000

    # 1. Same scenes in, same images out (noise off: the loop draws its noise differently).
    check = sample_scenes(300, np.random.default_rng(1), split="all")
    fast, slow = render_images(check, 32, noise=0.0), render_images_loop(check, 32, noise=0.0)
    diff = (fast - slow).abs().max().item()
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-5)
    print(f"check: vectorised == loop on {len(check)} scenes (max |diff| = {diff:.1e})")

    # 2. Time both renderers on the same n scenes, and the whole dataset generation.
    scenes = sample_scenes(n, np.random.default_rng(0))
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    t_vec = best_of(args.repeat, lambda: render_images(scenes, 32, 0.05, gen()))
    t_loop = best_of(1, lambda: render_images_loop(scenes, 32, 0.05, gen()))
    t_make = best_of(args.repeat, lambda: make_shapesworld(n))

    print(f"ShapesWorld, n = {n:,} images of 3x32x32, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"  (load average over the last minute: {os.getloadavg()[0]:.1f}; other busy processes slow both)")
    print(f"  make_shapesworld(n), images + captions + tokens : {t_make:7.3f} s")
    print(f"  render_images, vectorised                      : {t_vec:7.3f} s")
    print(f"  render, per-sample Python loop                 : {t_loop:7.3f} s")
    print(f"  speed-up of vectorised rendering               : {t_loop / t_vec:7.1f}x")


if __name__ == "__main__":
    main()
