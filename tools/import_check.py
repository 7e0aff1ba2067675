#!/usr/bin/env python3
"""Import every public module of the installed `mmtutorial` and check its version.

    python tools/import_check.py [--version X.Y.Z] [--not-under PATH]

Run by tests/test_release.py inside a fresh environment holding only the built wheel (and the
wheel's declared dependencies), and by the release workflow on the wheel it is about to publish:
a module that the wheel lacks, or that imports something the package does not declare, fails
here instead of in a reader's Colab session. Public: no part of the dotted name starts with `_`.
`--not-under` fails if the package was imported from that folder (the source checkout), which
would mean the test imported the working tree rather than the installed wheel.
Exit status 1 on any failure; one line per module otherwise.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import pathlib
import pkgutil
import sys
import time
import traceback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help="the version the package and its metadata must report")
    parser.add_argument("--not-under", type=pathlib.Path, help="fail if mmtutorial comes from here")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    import mmtutorial

    failures = []
    where = pathlib.Path(mmtutorial.__file__).resolve().parent
    print(f"mmtutorial {mmtutorial.__version__} from {where}")
    if args.not_under is not None and where.is_relative_to(args.not_under.resolve()):
        failures.append(f"mmtutorial was imported from {where}, inside {args.not_under}")
    meta = importlib.metadata.version("mmtutorial")
    if args.version is not None and {mmtutorial.__version__, meta} != {args.version}:
        failures.append(f"version: mmtutorial.__version__ = {mmtutorial.__version__}, metadata {meta}, "
                        f"expected {args.version}")

    names = sorted(m.name for m in pkgutil.walk_packages(mmtutorial.__path__, "mmtutorial.")
                   if not any(part.startswith("_") for part in m.name.split(".")))
    for name in names:
        try:
            importlib.import_module(name)
            print(f"  import {name}: ok")
        except Exception:  # noqa: BLE001  (report every module, not just the first)
            failures.append(f"import {name}:\n{traceback.format_exc(limit=3)}")
    print(f"{len(names)} public modules, {time.perf_counter() - t0:.1f} s")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures or not names else 0


if __name__ == "__main__":
    sys.exit(main())
