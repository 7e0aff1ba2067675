#!/usr/bin/env python3
"""Write or check each chapter's Colab badge and Colab setup cell from the package version.

    python tools/colab_cell.py --write notebooks/NN_slug.ipynb ...   # rewrite badge line + setup cell
    python tools/colab_cell.py --check [notebooks/*.ipynb]           # exit 1 naming each disagreement

Two numbers decide what a chapter's Colab entry points say (README, *Releases*):

- VERSION, the one place the version lives: `version` in pyproject.toml. The chapter was executed
  with it (its outputs print `mmtutorial VERSION`), and its setup cell installs exactly it in
  Colab: `mmtutorial==VERSION` from PyPI, else the git tag `vVERSION`.
- RELEASE, the release the badge opens: VERSION itself once CHANGELOG.md has a dated entry for it
  (the commit a release tag points at); between releases, when main already carries the next
  version, the newest dated entry, so that a reader's badge always opens a notebook, at a tag,
  whose setup cell installs a version that exists.

`--write` changes only the badge line of the first Markdown cell (the line linking to
colab.research.google.com; added under the title if missing) and the source of the first code
cell, which must already be the guarded setup cell (`"google.colab" in sys.modules`); cell ids,
outputs and everything else stay as they are. Extras the setup cell installed before
(`mmtutorial[audio]`) are kept; `--extras audio,text` sets them. Writing does not execute the
notebook: the setup cell does nothing outside Colab, so its outputs stay valid, but a chapter
executed with another VERSION must be re-executed (`make execute NB=...`); `--check` says so.

`--write --config` also points _config.yml's `repository.branch`, which the rocket menu's Colab
button opens, at RELEASE, so that both Colab entry points open the same notebook.

Only the standard library is used (pyproject.toml's few fields are read with regular
expressions), so that the release workflow can run it before anything is installed.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
from typing import NamedTuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLAB = "https://colab.research.google.com/github"
BADGE_TEXT = "▶ Open in Colab"
GUARD = '"google.colab" in sys.modules'
# Why a chapter needs an extra, for the comment of its setup cell.
EXTRA_NOTES = {"text": "the MiniLM weights and tokenizer", "audio": "eSpeak NG's library and voices"}
# `## [0.2.0] - 2026-11-30` (released) or `## [Unreleased]`, as Keep a Changelog writes them.
CHANGELOG_HEADING = re.compile(r"^## \[(?P<version>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?\s*$", re.M)


# ----------------------------------------------------------------------------- the project


def _project_table(text: str) -> str:
    """The body of pyproject.toml's [project] table (up to the next table header)."""
    match = re.search(r"^\[project\]\s*$(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not match:
        raise ValueError("pyproject.toml has no [project] table")
    return match.group("body")


def project_version(root: pathlib.Path = ROOT) -> str:
    """`version` of pyproject.toml's [project] table: the one place the version lives."""
    body = _project_table((root / "pyproject.toml").read_text(encoding="utf-8"))
    match = re.search(r'^version\s*=\s*"([^"]+)"\s*$', body, re.M)
    if not match:
        raise ValueError('pyproject.toml: [project] has no `version = "X.Y.Z"` line')
    return match.group(1)


def project_extras(root: pathlib.Path = ROOT) -> set[str]:
    """Names of the [project.optional-dependencies] extras."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r"^\[project\.optional-dependencies\]\s*$(?P<body>.*?)(?=^\[|\Z)", text, re.M | re.S)
    return set(re.findall(r"^([A-Za-z0-9_-]+)\s*=", match.group("body"), re.M)) if match else set()


def repository(root: pathlib.Path = ROOT) -> str:
    """`owner/name` of the GitHub repository, from pyproject.toml's [project.urls] Repository."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^Repository\s*=\s*"https://github\.com/([\w.-]+/[\w.-]+?)/?"\s*$', text, re.M)
    if not match:
        raise ValueError('pyproject.toml: [project.urls] needs Repository = "https://github.com/OWNER/NAME"')
    return match.group(1)


def _version_key(version: str) -> tuple:
    """Sort key for plain release versions `X.Y.Z` (what this project tags)."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise ValueError(f"version {version!r} is not of the form X.Y.Z")
    return tuple(int(p) for p in version.split("."))


class Release(NamedTuple):
    version: str
    date: str | None  # None: `## [Unreleased]`


def changelog(root: pathlib.Path = ROOT) -> list[Release]:
    """The `## [...]` entries of CHANGELOG.md, top to bottom."""
    text = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    return [Release(m.group("version"), m.group("date")) for m in CHANGELOG_HEADING.finditer(text)]


def changelog_entry(version: str, root: pathlib.Path = ROOT) -> str | None:
    """The text under `## [version] - date`, or None when there is no dated entry for it."""
    text = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    heads = list(CHANGELOG_HEADING.finditer(text))
    for i, m in enumerate(heads):
        if m.group("version") == version and m.group("date"):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            body = text[m.end():end]
            return re.split(r"^\[[^\]]+\]: ", body, maxsplit=1, flags=re.M)[0].strip()
    return None


def released(root: pathlib.Path = ROOT) -> list[str]:
    """Versions with a dated entry in CHANGELOG.md, newest first."""
    return sorted((r.version for r in changelog(root) if r.date), key=_version_key, reverse=True)


def badge_release(version: str, root: pathlib.Path = ROOT) -> str:
    """The release the Colab badges open (see the module docstring)."""
    dated = released(root)
    if version in dated or not dated:
        return version  # a release commit (or no release yet: the first tag will be vVERSION)
    return dated[0]


CONFIG_BRANCH = re.compile(r"^(repository:\s*\n(?:[ \t]+.*\n|[ \t]*#.*\n|\s*\n)*?[ \t]+branch:[ \t]*)(\S+)", re.M)


def config_branch(root: pathlib.Path = ROOT) -> str | None:
    """`repository.branch` of _config.yml: the ref the rocket menu's Colab button opens."""
    path = root / "_config.yml"
    match = CONFIG_BRANCH.search(path.read_text(encoding="utf-8")) if path.is_file() else None
    return match.group(2) if match else None


def write_config_branch(release: str, root: pathlib.Path = ROOT) -> bool:
    """Point _config.yml's `repository.branch` at `v{release}`; returns whether it changed."""
    path = root / "_config.yml"
    text = path.read_text(encoding="utf-8")
    new = CONFIG_BRANCH.sub(lambda m: m.group(1) + f"v{release}", text, count=1)
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


# ----------------------------------------------------------------------------- the two texts


def badge_url(notebook: str, release: str, repo: str) -> str:
    return f"{COLAB}/{repo}/blob/v{release}/notebooks/{notebook}"


def badge_line(notebook: str, release: str, repo: str) -> str:
    """The badge line of a chapter's first Markdown cell."""
    return (f"**[{BADGE_TEXT}]({badge_url(notebook, release, repo)})** "
            f"(the chapter as released with mmtutorial {release})")


def install_targets(version: str, extras: tuple[str, ...], repo: str) -> tuple[str, str]:
    """What the setup cell installs: from PyPI, else from the release's git tag."""
    name = f"mmtutorial[{','.join(extras)}]" if extras else "mmtutorial"
    return f"{name}=={version}", f"{name} @ git+https://github.com/{repo}@v{version}"


def setup_source(version: str, extras: tuple[str, ...], repo: str) -> str:
    """The source of a chapter's first code cell."""
    pypi, tag = install_targets(version, extras, repo)
    what = f"mmtutorial {version}"
    if extras:
        notes = [EXTRA_NOTES.get(e, "") for e in extras]
        what += f" with [{','.join(extras)}]" + (f" ({'; '.join(n for n in notes if n)})" if any(notes) else "")
    return (
        f"# Setup: in Colab, install {what},\n"
        "# the version this chapter was run with: from PyPI, else from its git tag. Colab keeps its\n"
        "# own torch. Elsewhere this cell does nothing.\n"
        "import sys\n"
        "\n"
        f"if {GUARD}:\n"
        "    import subprocess\n"
        f'    for target in ("{pypi}",\n'
        f'                   "{tag}"):\n'
        '        if subprocess.run([sys.executable, "-m", "pip", "install", "-q", target]).returncode == 0:\n'
        "            break\n"
        "    else:\n"
        f'        raise RuntimeError("mmtutorial {version} could not be installed (not released yet?): "\n'
        '                           "open this chapter from its badge in the online book (the latest release)")'
    )


# ----------------------------------------------------------------------------- notebooks


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def dump(nb: dict, path: pathlib.Path) -> None:
    """Write as Jupyter does (one-space indent, UTF-8 kept), so that a diff shows only the change."""
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def setup_cell(nb: dict) -> dict | None:
    return next((c for c in nb["cells"] if c["cell_type"] == "code"), None)


def first_markdown(nb: dict) -> dict | None:
    return next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)


def installed_extras(setup: str) -> tuple[str, ...]:
    """The extras the setup cell installs (`mmtutorial[audio]` -> ("audio",))."""
    match = re.search(r"mmtutorial\[([A-Za-z0-9_,-]+)\]", setup)
    return tuple(e.strip() for e in match.group(1).split(",")) if match else ()


BADGE_RE = re.compile(r"^.*\]\(" + re.escape(COLAB) + r"/[^)]*\).*$", re.M)


def printed_versions(nb: dict) -> set[str]:
    """Versions the chapter's stored outputs print as `mmtutorial X`."""
    text = "".join("".join(out.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   for out in c.get("outputs", []))
    return set(re.findall(r"\bmmtutorial (\d+(?:\.\d+)+\S*)", text))


def problems(path: pathlib.Path, root: pathlib.Path = ROOT, outputs: bool = True) -> list[str]:
    """Everything in which `path`'s badge, setup cell and outputs disagree with the project."""
    version, repo = project_version(root), repository(root)
    release = badge_release(version, root)
    nb, found = load(path), []
    md, setup = first_markdown(nb), setup_cell(nb)
    if md is None:
        found.append("no Markdown cell (the badge goes under the title)")
    else:
        lines = BADGE_RE.findall(_source(md))
        want = badge_line(path.name, release, repo)
        if lines != [want]:
            found.append(f"badge line is {lines or 'missing'}; expected {want!r}")
    if setup is None or GUARD not in _source(setup):
        found.append(f"the first code cell is not the guarded Colab setup cell ({GUARD})")
    else:
        extras = installed_extras(_source(setup))
        unknown = set(extras) - project_extras(root)
        if unknown:
            found.append(f"the setup cell installs extras that pyproject.toml lacks: {sorted(unknown)}")
        if _source(setup) != setup_source(version, extras, repo):
            named = sorted(set(re.findall(r"mmtutorial(?:\[[^\]]*\])?==([^\s\"']+)", _source(setup))))
            found.append(f"the setup cell is not the one for mmtutorial {version} (it names {named or 'no version'})")
    if outputs:
        shown = printed_versions(nb)
        if shown != {version}:
            found.append(f"its outputs print {f'mmtutorial {sorted(shown)}' if shown else 'no `mmtutorial X` line'}, not mmtutorial {version}: "
                         f"re-execute it (make execute NB={path.relative_to(root) if path.is_relative_to(root) else path})")
    return found


def write(path: pathlib.Path, root: pathlib.Path = ROOT, extras: tuple[str, ...] | None = None) -> bool:
    """Rewrite `path`'s badge line and setup cell; returns whether the file changed."""
    version, repo = project_version(root), repository(root)
    release = badge_release(version, root)
    nb = load(path)
    md, setup = first_markdown(nb), setup_cell(nb)
    if md is None or setup is None:
        raise SystemExit(f"{path}: needs a Markdown cell (title) and a code cell (setup)")
    if GUARD not in _source(setup):
        raise SystemExit(f"{path}: the first code cell is not the guarded Colab setup cell ({GUARD}); "
                         "add one (see any chapter) before running --write")
    if extras is None:
        extras = installed_extras(_source(setup))
    unknown = set(extras) - project_extras(root)
    if unknown:
        raise SystemExit(f"{path}: pyproject.toml has no extra {sorted(unknown)}")
    before = json.dumps(nb, sort_keys=True)

    text, line = _source(md), badge_line(path.name, release, repo)
    if BADGE_RE.search(text):
        text = BADGE_RE.sub(lambda _: line, text, count=1)
    else:  # under the `# Title` line, as a paragraph of its own
        title = re.search(r"^# .*$", text, re.M)
        if title:
            text = text[:title.end()] + "\n\n" + line + "\n\n" + text[title.end():].lstrip("\n")
        else:
            text = line + "\n\n" + text
    _set_source(md, text)
    _set_source(setup, setup_source(version, tuple(extras), repo))
    if json.dumps(nb, sort_keys=True) == before:
        return False
    dump(nb, path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite badge line and setup cell")
    mode.add_argument("--check", action="store_true", help="report disagreements, exit 1 if any")
    mode.add_argument("--print-version", action="store_true", help="print pyproject.toml's version")
    parser.add_argument("--extras", help="with --write: comma-separated extras to install (default: keep)")
    parser.add_argument("--config", action="store_true",
                        help="with --write: also point _config.yml's repository.branch (the rocket "
                             "menu's Colab button) at the release the badges open")
    parser.add_argument("--no-outputs", action="store_true",
                        help="with --check: do not check the version the stored outputs print")
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path,
                        help="default: every notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    version = project_version()
    if args.print_version:
        print(version)
        return 0
    release = badge_release(version)
    if args.write:
        extras = None if args.extras is None else tuple(e for e in args.extras.split(",") if e)
        for path in paths:
            changed = write(path, extras=extras)
            print(f"{path.name}: {'rewritten' if changed else 'unchanged'} (installs mmtutorial "
                  f"{version}, badge opens v{release})")
        if args.config:
            changed = write_config_branch(release)
            print(f"_config.yml: repository.branch {'set to' if changed else 'already'} v{release}")
        print("Re-execute a chapter whose outputs print another version: make execute NB=notebooks/NN_slug.ipynb")
        return 0
    bad = 0
    for path in paths:
        for problem in problems(path, outputs=not args.no_outputs):
            print(f"{path.name}: {problem}")
            bad += 1
    branch = config_branch()
    if branch not in (None, f"v{release}"):
        print(f"note: _config.yml's repository.branch is {branch}: the rocket menu's Colab button opens "
              f"that ref's notebooks, the badges v{release} (--write --config aligns them)")
    print(f"{len(paths)} notebooks checked against mmtutorial {version} (badges open v{release}): "
          f"{'OK' if not bad else f'{bad} problems (fix: python tools/colab_cell.py --write ...)'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
