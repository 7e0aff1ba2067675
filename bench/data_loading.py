#!/usr/bin/env python3
"""Data-loading throughput with and without worker processes, measured side by side.

A ShapesWorld `Dataset` of dict samples goes through a `DataLoader` (batch 128, shuffled) with
`num_workers=0` (the main process builds every batch) and with worker processes, alternating
the configurations over several repeats and taking the median. Prints batches per second for
each and the ratio workers / no workers. On a 2-core machine workers compete with the main
process for the same cores, so a ratio near (or below) 1 is expected there; on a GPU machine,
where the main process waits for the GPU, workers hide the loading time.

    python bench/data_loading.py [--quick] [--workers 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader

from mmtutorial.data import ShapesWorld


def batches_per_second(dataset, num_workers: int, epochs: int, batch_size: int = 128) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                        persistent_workers=num_workers > 0, generator=torch.Generator().manual_seed(0))
    next(iter(loader))  # start the workers before timing
    start = time.perf_counter()
    n = 0
    for _ in range(epochs):
        for _batch in loader:
            n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller dataset and fewer repeats")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, repeats, epochs = (4_000, 2, 1) if args.quick else (20_000, 3, 2)
    dataset = ShapesWorld(n, seed=0, audio=True)  # image, tokens, mask, labels and a 4000-sample tone
    results: dict[int, list[float]] = {0: [], args.workers: []}
    for _ in range(repeats):
        for workers in results:  # alternate, so drifts in machine load hit both alike
            results[workers].append(batches_per_second(dataset, workers, epochs))
    med = {w: statistics.median(r) for w, r in results.items()}
    print(f"ShapesWorld with audio, n={n}, batch 128, {repeats} repeats x {epochs} epochs (median)")
    for w, v in med.items():
        print(f"  num_workers={w}: {v:8.1f} batches/s")
    print(f"ratio workers/no-workers: {med[args.workers] / med[0]:.2f}")


if __name__ == "__main__":
    main()
