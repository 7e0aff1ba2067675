"""How much slower is Trainer.fit than the bare loop it wraps? (CPU, progress off)

Trains the same small MLP on the same synthetic data with a minimal hand-written
loop and with ``Trainer(progress=None)``, alternating the two (ABBA order) so that
both see the same machine, and prints the medians and the ratios ``trainer/hand`` of

* the wall-clock time of a run,
* the CPU time of a run (the process's own time, less disturbed by other programs),
* the time of one training step, from timestamps an optimizer hook takes after every
  step. Its lower quartile is the steadiest number on a busy shared machine, where
  other programs preempt some steps and inflate whole-run times.

torch runs on one thread so that both loops do the same work in the same way.

    python bench/train_overhead.py            # 10k samples, 1 epoch, 16 runs each (~30 s)
    python bench/train_overhead.py --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mmtutorial.train import Trainer  # noqa: E402


def make_problem(n: int, batch_size: int, stamps: list[float], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 32, generator=g)  # (N, D)
    y = (X[:, :4].sum(dim=1) > 0).long()  # (N,)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(32, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    opt.register_step_post_hook(lambda *_: stamps.append(time.perf_counter()))
    return model, opt, loader


def hand_loop(n: int, batch_size: int, epochs: int, stamps: list[float]) -> None:
    model, opt, loader = make_problem(n, batch_size, stamps)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        for X, y in loader:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X), y)
            loss.backward()
            opt.step()


def trainer_loop(n: int, batch_size: int, epochs: int, stamps: list[float]) -> None:
    model, opt, loader = make_problem(n, batch_size, stamps)
    trainer = Trainer(model, opt, nn.CrossEntropyLoss(), device="cpu", progress=None)
    trainer.fit(loader, epochs=epochs)


def timed(loop, n: int, batch_size: int, epochs: int) -> tuple[float, float, list[float]]:
    """(wall seconds, CPU seconds, seconds between consecutive optimizer steps) of one run."""
    stamps: list[float] = []
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    loop(n, batch_size, epochs, stamps)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, [b - a for a, b in zip(stamps, stamps[1:])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    n, epochs, repeats = (4_000, 1, 2) if args.quick else (10_000, 1, 16)
    batch_size = 64
    torch.set_num_threads(1)

    timed(hand_loop, 2_000, batch_size, 1)  # warm-up: first calls allocate and load kernels
    timed(trainer_loop, 2_000, batch_size, 1)
    runs: dict[str, list] = {"hand-written loop": [], "Trainer.fit": []}
    loops = ((hand_loop, runs["hand-written loop"]), (trainer_loop, runs["Trainer.fit"]))
    for i in range(repeats):  # interleave, alternating who goes first
        for loop, results in loops[:: 1 if i % 2 == 0 else -1]:
            results.append(timed(loop, n, batch_size, epochs))

    steps = epochs * -(-n // batch_size)
    print(f"{n} samples, batch {batch_size}, {epochs} epoch(s) = {steps} steps per run; {repeats} runs each")
    print(f"{'':18}  {'wall s':>7}  {'CPU s':>7}  {'step us (median)':>16}  {'step us (p25)':>13}")
    summary = {}
    for name, results in runs.items():
        step_times = [dt for r in results for dt in r[2]]
        summary[name] = (
            statistics.median(r[0] for r in results),
            statistics.median(r[1] for r in results),
            statistics.median(step_times),
            statistics.quantiles(step_times, n=4)[0],
        )
        wall, cpu, med, p25 = summary[name]
        print(f"{name:18}  {wall:7.3f}  {cpu:7.3f}  {1e6 * med:16.1f}  {1e6 * p25:13.1f}")
    ratio = [t / h for t, h in zip(summary["Trainer.fit"], summary["hand-written loop"])]
    print(
        f"ratio trainer/hand: {ratio[0]:.3f} (median wall time); CPU {ratio[1]:.3f}, "
        f"step median {ratio[2]:.3f}, step p25 {ratio[3]:.3f}"
    )


if __name__ == "__main__":
    main()
