"""What does the Trainer cost? It against a hand-written loop, measured side by side.

The chapter *Optimization and the training loop* runs :func:`trainer_overhead` and shows its
ratio; ``bench/train_overhead.py`` runs it longer and adds the GPU table of
:func:`throughput_table`, which ``make gpu-check`` prints too.

Two rules make such numbers honest. The loops take turns (ABBA: A B, then B A), so that a
machine that slows down or speeds up during the measurement affects both alike; and on a GPU
the clock is read only after ``torch.cuda.synchronize()``, because GPU work is asynchronous.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ._checks import check_choice, check_int
from .data import DeviceLoader
from .device import as_device, autocast
from .train import Trainer

__all__ = ["Problem", "cnn_problem", "format_table", "hand_loop", "mlp_problem", "throughput",
           "throughput_table", "trainer_overhead", "vit_problem"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Problem:
    """A classification task to time: a seeded model factory and its data (CPU tensors)."""

    name: str
    make_model: Callable[[], nn.Module]
    inputs: torch.Tensor  # (N, ...)
    labels: torch.Tensor  # (N,)


def mlp_problem(n: int = 10_000, seed: int = 0) -> Problem:
    """A 3-layer MLP on 32 Gaussian features: small enough that the loop's own cost shows."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 32, generator=g)  # (N, 32)
    y = (X[:, :4].sum(dim=1) > 0).long()  # (N,)

    def make() -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))

    return Problem("MLP 32-256-256-2", make, X, y)


def cnn_problem(n: int = 20_000, width: int = 64, seed: int = 0) -> Problem:
    """Three conv blocks (width, 2 width, 4 width channels) on 32x32 ShapesWorld images, 5 shapes."""
    from .data import make_shapesworld

    data = make_shapesworld(n, seed=seed)
    w = check_int("width", width, min=1)

    def make() -> nn.Module:
        torch.manual_seed(seed)
        block = lambda i, o: [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]  # noqa: E731
        return nn.Sequential(*block(3, w), nn.MaxPool2d(2),            # (B, w, 16, 16)
                             *block(w, 2 * w), nn.MaxPool2d(2),        # (B, 2w, 8, 8)
                             *block(2 * w, 4 * w),                     # (B, 4w, 8, 8)
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, 5))

    return Problem(f"CNN {w}-{2 * w}-{4 * w}, 32x32", make, data.images, data.labels["shape"])


class _TinyViT(nn.Module):
    def __init__(self, width: int, depth: int, patch: int, image_size: int, classes: int) -> None:
        super().__init__()
        self.patches = nn.Conv2d(3, width, patch, stride=patch)  # (B, D, H/p, W/p)
        self.pos = nn.Parameter(0.02 * torch.randn(1, (image_size // patch) ** 2, width))
        layer = nn.TransformerEncoderLayer(width, width // 64, 4 * width, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(width, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.patches(images).flatten(2).transpose(1, 2) + self.pos  # (B, T, D)
        return self.head(self.blocks(tokens).mean(dim=1))  # (B, classes)


def vit_problem(n: int = 10_000, width: int = 384, depth: int = 4, seed: int = 0) -> Problem:
    """A small Vision Transformer (patches of 8 on 64x64 ShapesWorld images): arithmetic dominates."""
    from .data import make_shapesworld

    data = make_shapesworld(n, seed=seed, image_size=64)

    def make() -> nn.Module:
        torch.manual_seed(seed)
        return _TinyViT(width, depth, patch=8, image_size=64, classes=5)

    return Problem(f"ViT width {width}, depth {depth}, 64x64", make, data.images, data.labels["shape"])


def hand_loop(model: nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable, device: torch.device,
              epochs: int = 1, dtype: torch.dtype | None = None) -> list[float]:
    """The minimal training loop a reader would write; returns the step losses (read once, at the end)."""
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    model.train()
    losses = []
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, enabled=dtype is not None, dtype=dtype):
                loss = F.cross_entropy(model(x), y)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            losses.append(loss.detach())
    return torch.stack(losses).float().tolist()


@contextlib.contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, time with one torch thread: steadier on a shared machine, the same work for every loop."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _make_loader(problem: Problem, kind: str, batch_size: int, device: torch.device) -> Iterable:
    if kind == "device":
        return DeviceLoader((problem.inputs, problem.labels), batch_size, shuffle=True, drop_last=True, device=device)
    return DataLoader(TensorDataset(problem.inputs, problem.labels), batch_size, shuffle=True, drop_last=True,
                      pin_memory=device.type == "cuda")


def throughput(problem: Problem, loop: str, loader: str, batch_size: int, device: torch.device | str,
               precision: str = "fp32", compile: bool = False, epochs: int = 2, channels_last: bool = False) -> float:
    """Training samples per second of ``loop`` ("hand" or "trainer") over ``loader`` ("device" or
    "dataloader"), timed over ``epochs`` epochs after one untimed warm-up epoch.

    ``precision``: "fp32", "bf16" or "fp16" (16-bit only where the device has autocast: CUDA);
    ``compile``: the model under ``torch.compile``; ``channels_last``: the Trainer's option
    (the Trainer only)."""
    device = as_device(device)
    check_choice("loop", loop, ("hand", "trainer"))
    check_choice("loader", loader, ("device", "dataloader"))
    dtype = PRECISIONS[check_choice("precision", precision, tuple(PRECISIONS))]
    batches = _make_loader(problem, loader, check_int("batch_size", batch_size, min=1), device)
    model = problem.make_model().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    if loop == "hand":
        forward = torch.compile(model) if compile else model

        def run(n_epochs: int) -> None:
            hand_loop(forward, optimizer, batches, device, n_epochs, dtype)
    else:
        trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), device=device, amp=dtype or False,
                          compile=compile, channels_last=channels_last)

        def run(n_epochs: int) -> None:
            trainer.fit(batches, epochs=trainer.epoch + n_epochs)
    with _one_cpu_thread(device):
        run(1)  # warm-up: allocation, kernel choice, compilation
        _synchronize(device)
        start = time.perf_counter()
        run(epochs)
        _synchronize(device)
        return epochs * len(batches) * batch_size / (time.perf_counter() - start)


def throughput_table(problem: Problem, device: torch.device | str, batch_sizes: Iterable[int] = (256, 1024),
                     precisions: Iterable[str] = ("fp32", "bf16"), compile_batch_sizes: Iterable[int] = (1024,),
                     epochs: int = 2, repeats: int = 3) -> list[dict]:
    """Samples per second of the hand loop and the Trainer, per batch size and precision (a GPU table).

    Each row holds the hand-written loop over device-resident tensors (``hand``), the Trainer
    with the ``DeviceLoader`` (``trainer``) and with ``DataLoader(TensorDataset)``
    (``trainer_dataloader``), each the median of ``repeats`` runs taken in turns; at the batch
    sizes of ``compile_batch_sizes`` also both loops under ``torch.compile`` (one run each:
    compiling takes seconds).
    """
    rows = []
    configs = {"hand": ("hand", "device"), "trainer": ("trainer", "device"),
               "trainer_dataloader": ("trainer", "dataloader")}
    for batch_size in batch_sizes:
        for precision in precisions:
            runs: dict[str, list[float]] = {name: [] for name in configs}
            for r in range(repeats):
                for name in (list(configs) if r % 2 == 0 else list(configs)[::-1]):  # take turns
                    loop, loader = configs[name]
                    runs[name].append(throughput(problem, loop, loader, batch_size, device, precision, False, epochs))
            row = {"model": problem.name, "batch": batch_size, "precision": precision}
            row.update({name: statistics.median(v) for name, v in runs.items()})
            if batch_size in compile_batch_sizes:
                for loop in ("hand", "trainer"):
                    row[f"{loop}_compiled"] = throughput(problem, loop, "device", batch_size, device, precision,
                                                         True, epochs)
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`throughput_table` as text, with the ratios the book's targets are about."""
    lines = [f"{'model':<32} {'batch':>5} {'prec':>4} {'hand':>9} {'Trainer':>9} {'+DataLoader':>11} "
             f"{'hand+cmp':>9} {'Tr.+cmp':>9}  {'Tr./hand':>8} {'dev./DL':>7}"]
    for r in rows:
        cells = [f"{r.get(k, float('nan')):9.0f}" for k in ("hand", "trainer")]
        cells.append(f"{r['trainer_dataloader']:11.0f}")
        cells += [f"{r[k]:9.0f}" if k in r else f"{'-':>9}" for k in ("hand_compiled", "trainer_compiled")]
        lines.append(f"{r['model']:<32} {r['batch']:>5} {r['precision']:>4} {' '.join(cells)}  "
                     f"{r['trainer'] / r['hand']:8.3f} {r['trainer'] / r['trainer_dataloader']:7.2f}")
    return "\n".join(lines)


def trainer_overhead(n: int = 3_000, batch_size: int = 64, repeats: int = 4, rounds: int = 3,
                     good_enough: float = 1.05, device: torch.device | str = "cpu") -> dict:
    """``Trainer.fit`` against :func:`hand_loop` on the same MLP, batches and initial weights.

    Each round runs both loops ``repeats`` times, in turns; a hook after every optimizer step
    stamps the time. Returns, for the best round (interference from other programs only ever
    adds time), the lower quartile of the step time of each loop (the steadiest number on a
    busy machine), the median time of a whole run, and their ratios Trainer / hand. Rounds
    stop early once the step ratio is below ``good_enough``. On the CPU, torch runs on one
    thread meanwhile.
    """
    device = as_device(device)
    problem = mlp_problem(n)
    loader = DataLoader(TensorDataset(problem.inputs, problem.labels), batch_size=batch_size, shuffle=True)

    def timed(loop: str) -> tuple[float, list[float]]:
        stamps: list[float] = []
        model = problem.make_model().to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)  # the same kernel in both
        optimizer.register_step_post_hook(lambda *_: stamps.append(time.perf_counter()))
        gc.collect()
        start = time.perf_counter()
        if loop == "hand":
            hand_loop(model, optimizer, loader, device)
        else:
            Trainer(model, optimizer, nn.CrossEntropyLoss(), device=device, amp=False).fit(loader)
        _synchronize(device)
        return time.perf_counter() - start, [b - a for a, b in zip(stamps, stamps[1:])]

    with _one_cpu_thread(device):
        return _best_round(timed, repeats, rounds, good_enough) | {"steps_per_run": len(loader)}


def _best_round(timed: Callable[[str], tuple[float, list[float]]], repeats: int, rounds: int,
                good_enough: float) -> dict:
    timed("hand"), timed("trainer")  # warm-up: first calls allocate and load kernels
    best = None
    for _ in range(rounds):
        walls: dict[str, list[float]] = {"hand": [], "trainer": []}
        steps: dict[str, list[float]] = {"hand": [], "trainer": []}
        for r in range(repeats):
            for loop in (("hand", "trainer") if r % 2 == 0 else ("trainer", "hand")):
                wall, step_times = timed(loop)
                walls[loop].append(wall)
                steps[loop] += step_times
        result = {loop: {"step_p25_s": statistics.quantiles(steps[loop], n=4)[0],
                         "run_median_s": statistics.median(walls[loop])} for loop in walls}
        result["step_ratio"] = result["trainer"]["step_p25_s"] / result["hand"]["step_p25_s"]
        result["run_ratio"] = result["trainer"]["run_median_s"] / result["hand"]["run_median_s"]
        if best is None or result["step_ratio"] < best["step_ratio"]:
            best = result
        if best["step_ratio"] < good_enough:
            break
    return best
