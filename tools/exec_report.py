#!/usr/bin/env python3
"""Print each chapter's execution time from the book build's cache, against the budgets.

Reads `_build/.jupyter_cache`, where the nbval run of `make test` (tools/nbval_record.py) or
the book build (execute_notebooks: cache) stored each executed chapter with its run time. Budgets: 60 s per chapter on a
2-core CPU, 15 minutes for the whole book. Prints a table and the chapters over budget; it is
a report, not a test: the exit status is 0 unless the cache is missing.
"""
from __future__ import annotations

import pathlib
import sys

from jupyter_cache import get_cache

ROOT = pathlib.Path(__file__).resolve().parent.parent
PER_CHAPTER_S, BOOK_S = 60.0, 15 * 60.0


def main() -> int:
    cache_dir = ROOT / "_build" / ".jupyter_cache"
    if not cache_dir.is_dir():
        print("no execution records: build the book first (make book)", file=sys.stderr)
        return 1
    rows = []
    for record in get_cache(str(cache_dir)).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:
            rows.append((pathlib.Path(record.uri).relative_to(ROOT).as_posix(), float(seconds)))
    rows.sort()
    total = sum(s for _, s in rows)
    print(f"{'notebook':<50} {'seconds':>8}")
    for name, seconds in rows:
        flag = "  over the 60 s budget" if seconds > PER_CHAPTER_S else ""
        print(f"{name:<50} {seconds:8.1f}{flag}")
    print(f"{'whole book':<50} {total:8.1f}{'  over the 15 min budget' if total > BOOK_S else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
