#!/usr/bin/env python3
"""`make gpu-check`: run every chapter on CUDA and measure the Trainer there.

Prints, for each notebook of `_toc.yml`, its wall time and the peak GPU memory its kernel
allocated; then the Trainer's training throughput (samples/s) on a ShapesWorld CNN in fp32 and
with mixed precision (bf16 where supported), each with its peak memory. Exits non-zero if CUDA
is missing, any cell fails, or the Trainer does not train.

    python tools/gpu_check.py [--only 01_multimodal_models ...] [--skip-notebooks]
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import nbformat
import torch
import yaml
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEAK_CELL = ("import json, torch\n"
             "print('GPU_CHECK ' + json.dumps({'device': str(device), "
             "'peak_bytes': torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0}))")


def chapters() -> list[pathlib.Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if f.startswith("notebooks/")]


def run_notebook(path: pathlib.Path, timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    info = json.loads(text.split("GPU_CHECK ", 1)[1].splitlines()[0])
    return {"seconds": seconds, **info}


def trainer_throughput(amp: bool, n: int = 20_000, batch_size: int = 256, epochs: int = 2,
                       device: str = "cuda") -> dict:
    """Samples per second of `Trainer.fit` on a ShapesWorld CNN (the second epoch, after warm-up)."""
    import torch.nn as nn
    from torch.utils.data import DataLoader, TensorDataset

    from mmtutorial import Trainer, seed_everything
    from mmtutorial.data import make_shapesworld

    seed_everything(0)
    data = make_shapesworld(n, seed=0)
    loader = DataLoader(TensorDataset(data.images, data.labels["shape"]), batch_size=batch_size,
                        shuffle=True, pin_memory=True, drop_last=True)
    model = nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 256, 3, padding=1), nn.BatchNorm2d(256), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 5))
    trainer = Trainer(model, torch.optim.AdamW(model.parameters(), lr=1e-3), nn.CrossEntropyLoss(),
                      device=device, amp=amp, progress=None, channels_last=True)
    cuda = trainer.device.type == "cuda"
    trainer.fit(loader, epochs=1)  # warm-up: cuDNN autotuning, allocator
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer.fit(loader, epochs=epochs)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    samples = (epochs - 1) * len(loader) * batch_size
    loss = trainer.history["train_loss"][-1]
    if not loss < trainer.history["train_loss"][0]:
        raise RuntimeError(f"the Trainer did not train (amp={amp}): losses {trainer.history['train_loss']}")
    return {"samples_per_s": samples / seconds, "peak_bytes": torch.cuda.max_memory_allocated() if cuda else 0,
            "dtype": str(trainer.amp_dtype) if amp and cuda else "float32", "final_loss": loss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebook stems to run (default: all in _toc.yml)")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu-check: CUDA is not available on this machine", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(0)} | torch {torch.__version__} | "
          f"CUDA {torch.version.cuda} | bf16 {torch.cuda.is_bf16_supported()}")
    failures = 0
    if not args.skip_notebooks:
        total = 0.0
        print(f"\n{'notebook':<40} {'time (s)':>9} {'peak GPU MiB':>13}")
        for path in chapters():
            if args.only and path.stem not in args.only:
                continue
            try:
                r = run_notebook(path, args.timeout)
            except Exception as err:  # report every failing chapter, then fail
                failures += 1
                print(f"{path.stem:<40} FAILED: {type(err).__name__}: {str(err).splitlines()[-1][:200]}")
                continue
            total += r["seconds"]
            print(f"{path.stem:<40} {r['seconds']:9.1f} {r['peak_bytes'] / 2**20:13.0f}   ({r['device']})")
        print(f"{'all notebooks':<40} {total:9.1f}")
    print(f"\n{'Trainer (ShapesWorld CNN, batch 256)':<40} {'samples/s':>10} {'peak GPU MiB':>13}")
    results = {}
    for amp in (False, True):
        r = trainer_throughput(amp)
        results[amp] = r
        print(f"{'  ' + r['dtype']:<40} {r['samples_per_s']:10.0f} {r['peak_bytes'] / 2**20:13.0f}")
    print(f"  mixed precision speed-up: {results[True]['samples_per_s'] / results[False]['samples_per_s']:.2f}x")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
