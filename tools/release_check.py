#!/usr/bin/env python3
"""Refuse a release tag unless the tag, pyproject.toml, CHANGELOG.md and the chapters agree.

    python tools/release_check.py vX.Y.Z [--notes FILE]

The release workflow runs it first, before anything is built. It checks that
1. the tag is `v` + pyproject.toml's version (`X.Y.Z`, the one place the version lives);
2. CHANGELOG.md has a dated, non-empty entry `## [X.Y.Z] - YYYY-MM-DD`, the newest dated one;
3. every chapter's Colab badge opens `vX.Y.Z`, its setup cell installs exactly `X.Y.Z`, and its
   stored outputs print `mmtutorial X.Y.Z` (tools/colab_cell.py --check).
`--notes FILE` writes the changelog entry there (release notes). Standard library only.
"""
from __future__ import annotations

import argparse
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import colab_cell  # noqa: E402


def problems(tag: str, root: pathlib.Path = colab_cell.ROOT) -> list[str]:
    found = []
    version = colab_cell.project_version(root)
    if not re.fullmatch(r"v\d+\.\d+\.\d+", tag):
        found.append(f"tag {tag!r} is not of the form vX.Y.Z")
    if tag != f"v{version}":
        found.append(f"tag {tag} does not match pyproject.toml's version {version} (expected v{version})")
    entry = colab_cell.changelog_entry(version, root)
    if entry is None:
        found.append(f"CHANGELOG.md has no dated entry `## [{version}] - YYYY-MM-DD`")
    elif not entry:
        found.append(f"CHANGELOG.md's entry for {version} is empty")
    dated = colab_cell.released(root)
    if dated and dated[0] != version:
        found.append(f"the newest dated CHANGELOG.md entry is {dated[0]}, not {version}")
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    if not notebooks:
        found.append("notebooks/ holds no chapter")
    for path in notebooks:
        found += [f"{path.name}: {p}" for p in colab_cell.problems(path, root)]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tag", help="the pushed tag, e.g. v0.2.0")
    parser.add_argument("--notes", type=pathlib.Path, help="write the changelog entry to this file")
    args = parser.parse_args(argv)
    found = problems(args.tag)
    for problem in found:
        print(f"release {args.tag}: {problem}", file=sys.stderr)
    if found:
        return 1
    version = colab_cell.project_version()
    entry = colab_cell.changelog_entry(version)
    if args.notes is not None:
        args.notes.write_text(entry + "\n", encoding="utf-8")
    print(f"release {args.tag}: pyproject.toml, CHANGELOG.md and every chapter agree on {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
