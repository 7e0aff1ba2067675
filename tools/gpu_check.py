#!/usr/bin/env python3
"""`make gpu-check`: every chapter on CUDA at its GPU preset, then the Trainer against a hand loop.

For each chapter of `_toc.yml`: its run time and peak GPU memory at the GPU preset
(MMTUTORIAL_PRESET=gpu), and its headline numbers (the lines `headline (... preset): ...` the
chapter prints) beside the CPU preset's, read from the committed notebook. Then the Trainer's
throughput table (mmtutorial.benchmark.throughput_table) on the ShapesWorld CNN of the
benchmark and on a small ViT whose arithmetic dominates: hand-written loop over device-resident
tensors, Trainer with the DeviceLoader, Trainer with DataLoader(TensorDataset), fp32 and 16-bit,
and both loops under torch.compile at batch 1024. Exits non-zero if CUDA is missing or any
chapter fails; the ratios are reported against their targets, not enforced.

    python tools/gpu_check.py [--only 01_multimodal_models ...] [--skip-notebooks] [--skip-table] [--fp16]

--fp16 runs everything in float16 with a gradient scaler (what a T4 uses), even on a GPU with
bfloat16 (MMTUTORIAL_AMP_DTYPE=float16).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

PEAK_CELL = ("import json as _json, torch as _torch\n"
             "print('GPU_CHECK ' + _json.dumps({'peak_bytes': _torch.cuda.max_memory_allocated() "
             "if _torch.cuda.is_available() else 0}))")
HEADLINE = re.compile(r"^headline \((\w+) preset\): (.*)$", re.M)


def chapters() -> list[pathlib.Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    return [ROOT / f"{f}.ipynb" for f in files if f.startswith("notebooks/")]


def stream_text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


def headlines(text: str) -> tuple[str | None, dict[str, float]]:
    """The preset and the numbers of every `headline (...)` line in a chapter's output."""
    preset, numbers = None, {}
    for match in HEADLINE.finditer(text):
        preset = match.group(1)
        for cell in match.group(2).split(" | "):
            key, value = cell.rsplit(" ", 1)
            numbers[key] = float(value)
    return preset, numbers


def run_notebook(path: pathlib.Path, timeout: int) -> dict:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PEAK_CELL))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    text = stream_text(nb)
    info = json.loads(text.split("GPU_CHECK ", 1)[1].splitlines()[0])
    preset, numbers = headlines(text)
    return {"seconds": seconds, "preset": preset, "headline": numbers, **info}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebook stems to run (default: all in _toc.yml)")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--fp16", action="store_true", help="float16 with a gradient scaler, as on a T4")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu-check: CUDA is not available on this machine", file=sys.stderr)
        return 2
    os.environ["MMTUTORIAL_PRESET"] = "gpu"  # the kernels inherit the environment
    if args.fp16:
        os.environ["MMTUTORIAL_AMP_DTYPE"] = "float16"
    half = "fp16" if args.fp16 or not torch.cuda.is_bf16_supported() else "bf16"
    print(f"device: {torch.cuda.get_device_name(0)} | torch {torch.__version__} | CUDA {torch.version.cuda} | "
          f"16-bit type: {half}")

    failures = 0
    if not args.skip_notebooks:
        total = 0.0
        print(f"\n{'chapter (GPU preset)':<36} {'time s':>7} {'peak MiB':>9}  headline numbers: GPU preset (CPU preset)")
        for path in chapters():
            if args.only and path.stem not in args.only:
                continue
            try:
                r = run_notebook(path, args.timeout)
            except Exception as err:  # report every failing chapter, then fail
                failures += 1
                print(f"{path.stem:<36} FAILED: {type(err).__name__}: {str(err).strip().splitlines()[-1][:300]}")
                continue
            total += r["seconds"]
            _, committed = headlines(stream_text(nbformat.read(path, as_version=4)))
            numbers = ", ".join(f"{k} {v:.4g} ({committed.get(k, float('nan')):.4g})" for k, v in r["headline"].items())
            print(f"{path.stem:<36} {r['seconds']:7.1f} {r['peak_bytes'] / 2**20:9.0f}  {numbers}")
            if r["preset"] != "gpu":
                failures += 1
                print(f"{'':<36} FAILED: the chapter ran at the {r['preset']!r} preset, not 'gpu'")
        print(f"{'all chapters':<36} {total:7.1f}")

    if not args.skip_table:
        from mmtutorial.benchmark import cnn_problem, format_table, throughput_table, vit_problem

        rows = []
        for problem in (cnn_problem(), vit_problem()):
            rows += throughput_table(problem, "cuda", precisions=("fp32", half))
        print("\nTrainer throughput, samples/s (median of 3 runs in turns; compiled: one run after warm-up)")
        print(format_table(rows))
        print("targets: Tr./hand >= 0.95 in every row; dev./DL >= 2 at batch 1024")
        for r in rows:
            ok = r["trainer"] / r["hand"] >= 0.95 and (r["batch"] != 1024 or r["trainer"] / r["trainer_dataloader"] >= 2)
            if not ok:
                print(f"  below target: {r['model']}, batch {r['batch']}, {r['precision']}")
        for r in rows:
            if r["precision"] != "fp32" and r["batch"] == 1024:
                fp32 = next(x for x in rows if x["model"] == r["model"] and x["batch"] == 1024 and x["precision"] == "fp32")
                print(f"  {r['model']}: {r['precision']} / fp32 at batch 1024 = {r['trainer'] / fp32['trainer']:.2f}x")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
