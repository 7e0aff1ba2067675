#!/usr/bin/env python3
"""Execute chapters in place, top to bottom in a fresh kernel, as they are committed.

    python tools/execute.py notebooks/03_data_preprocessing.ipynb [...]   # or: make execute

Each notebook is run by nbclient (widget state saved, so explorers render in the book) in its
own folder, then written back with outputs and execution counts 1..N. Cells tagged
`raises-exception` may raise; any other error stops with the notebook left unchanged.
Prints each notebook's wall time. The size preset follows the device unless
MMTUTORIAL_PRESET is set (commit the CPU preset's outputs).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3", store_widget_state=True,
                                record_timing=False, resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        nbformat.write(nb, path)
        print(f"{path}: executed in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
