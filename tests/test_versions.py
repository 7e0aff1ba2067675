"""The version test: one version, in pyproject.toml, that the package reports, the changelog
dates at a release, and every chapter installs in Colab, with a badge that opens a release.

The rules live in tools/colab_cell.py (what a badge and a setup cell must say) and
tools/release_check.py (what a release tag needs); README, *Releases*, explains them.
Every notebook in notebooks/ is checked: a new chapter fails here until
`python tools/colab_cell.py --write notebooks/NN_slug.ipynb` has written its badge and setup cell.
"""
from __future__ import annotations

import datetime
import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

import mmtutorial

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402
import release_check  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
VERSION = colab_cell.project_version(ROOT)


# ----------------------------------------------------------------------------- one version


def test_the_version_lives_in_pyproject_only():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), f"pyproject.toml's version {VERSION!r} is not X.Y.Z"
    assert mmtutorial.__version__ == VERSION
    literal = re.compile(r"""__version__\s*=\s*["']|["']""" + re.escape(VERSION) + r"""["']""")
    for path in sorted((ROOT / "mmtutorial").rglob("*.py")):
        assert not literal.search(path.read_text(encoding="utf-8")), (
            f"{path.relative_to(ROOT)} states a version itself: read it from pyproject.toml")


def test_the_installed_metadata_agrees():
    """The editable install's metadata, which a wheel built now would carry too."""
    from importlib import metadata
    assert metadata.version("mmtutorial") == VERSION, "pyproject.toml changed: reinstall (make install)"


def test_the_book_config_names_the_same_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["url"].rstrip("/") == f"https://github.com/{colab_cell.repository(ROOT)}"


# ----------------------------------------------------------------------------- the changelog


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n"), "CHANGELOG.md starts with `# Changelog`"
    assert "keepachangelog.com" in text
    entries = colab_cell.changelog(ROOT)
    assert entries and entries[0] == ("Unreleased", None), "the first entry is `## [Unreleased]`"
    dated = entries[1:]
    assert all(e.date for e in dated), f"every entry but Unreleased is dated: {dated}"
    for e in dated:
        datetime.date.fromisoformat(e.date)
        assert colab_cell.changelog_entry(e.version, ROOT), f"the entry for {e.version} is empty"
        assert re.search(rf"^\[{re.escape(e.version)}\]: https://", text, re.M), f"no link for [{e.version}]"
    versions = [e.version for e in dated]
    assert versions == colab_cell.released(ROOT), "entries go from the newest version down"
    assert [e.date for e in dated] == sorted((e.date for e in dated), reverse=True)


def test_pyproject_carries_the_latest_release_or_the_next_one():
    """At a release commit the version is the newest dated entry; between releases, a newer one."""
    dated = colab_cell.released(ROOT)
    if dated and VERSION not in dated:
        assert colab_cell._version_key(VERSION) > colab_cell._version_key(dated[0]), (
            f"pyproject.toml's {VERSION} is neither the latest release {dated[0]} nor newer")
    if VERSION in dated:
        assert dated[0] == VERSION, f"{VERSION} is released but {dated[0]} is newer"


# ----------------------------------------------------------------------------- the chapters


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_installs_the_version_it_was_run_with(path):
    """Badge -> the release's notebook; setup cell -> exactly pyproject's version; outputs printed it."""
    found = colab_cell.problems(path, ROOT)
    assert not found, (f"{path.name}:\n  " + "\n  ".join(found) +
                       f"\nfix: python tools/colab_cell.py --write notebooks/{path.name}")


def test_every_chapter_prints_the_version_it_runs_with():
    for path in NOTEBOOKS:
        code = "".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
                       if c["cell_type"] == "code")
        assert "mmtutorial {mmtutorial.__version__}" in code, f"{path.name} does not print its version"


# ----------------------------------------------------------------------------- the tool's rules


def make_project(tmp_path: pathlib.Path, version: str, changelog: str) -> pathlib.Path:
    """A copy of the project's metadata and one chapter, with another version and changelog."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    set_version(root, version)
    (root / "CHANGELOG.md").write_text(changelog)
    shutil.copy(ROOT / "notebooks" / "01_multimodal_models.ipynb", root / "notebooks")
    return root


CHANGELOG_BETWEEN = """# Changelog
## [Unreleased]
### Added
- something
## [8.0.0] - 2026-11-30
- first
[8.0.0]: https://example.org
"""


def set_version(root: pathlib.Path, version: str) -> None:
    """Rewrite the copied pyproject.toml's version (as the pull request after a release does)."""
    path = root / "pyproject.toml"
    path.write_text(re.sub(r'^version = "[^"]+"', f'version = "{version}"', path.read_text(encoding="utf-8"), flags=re.M))


@pytest.mark.skipif(not (ROOT / "notebooks" / "01_multimodal_models.ipynb").exists(), reason="no chapter 01")
def test_between_releases_badges_open_the_latest_release_and_cells_install_the_next(tmp_path):
    # Versions of a made-up project, so that the test holds whatever version the book is at:
    # 8.0.0 is released (dated), then main moves on to 8.1.0.
    root = make_project(tmp_path, "8.0.0", CHANGELOG_BETWEEN)
    nb = root / "notebooks" / "01_multimodal_models.ipynb"
    colab_cell.write(nb, root)  # the chapter as released: badge and setup cell at 8.0.0
    set_version(root, "8.1.0")
    assert colab_cell.badge_release("8.1.0", root) == "8.0.0"
    assert colab_cell.write(nb, root)
    data = colab_cell.load(nb)
    badge = colab_cell.BADGE_RE.findall("".join(colab_cell.first_markdown(data)["source"]))
    assert badge == [colab_cell.badge_line(nb.name, "8.0.0", "mmtutorial/mmtutorial")]
    assert "/blob/v8.0.0/notebooks/01_multimodal_models.ipynb" in badge[0]
    setup = "".join(colab_cell.setup_cell(data)["source"])
    assert '"mmtutorial==8.1.0"' in setup and "mmtutorial@v8.1.0" in setup
    assert colab_cell.setup_cell(data)["id"] == "c001", "cell ids are kept"
    # Only the badge line and the setup cell changed; the outputs print another version.
    assert colab_cell.problems(nb, root, outputs=False) == []
    assert any("re-execute" in p for p in colab_cell.problems(nb, root))
    assert not colab_cell.write(nb, root), "writing twice changes nothing"
    # The release pull request dates the entry: now the badge opens v8.1.0 too.
    (root / "CHANGELOG.md").write_text(CHANGELOG_BETWEEN.replace("## [Unreleased]", "## [Unreleased]\n## [8.1.0] - 2026-12-24"))
    assert colab_cell.badge_release("8.1.0", root) == "8.1.0"
    assert any("badge line" in p for p in colab_cell.problems(nb, root, outputs=False))
    colab_cell.write(nb, root)
    assert colab_cell.problems(nb, root, outputs=False) == []


@pytest.mark.skipif(not (ROOT / "notebooks" / "01_multimodal_models.ipynb").exists(), reason="no chapter 01")
def test_write_adds_a_missing_badge_and_keeps_extras(tmp_path):
    root = make_project(tmp_path, VERSION, (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    nb = root / "notebooks" / "01_multimodal_models.ipynb"
    data = colab_cell.load(nb)
    md = colab_cell.first_markdown(data)
    md["source"] = [ln for ln in md["source"] if "colab.research.google.com" not in ln]
    colab_cell.dump(data, nb)
    colab_cell.write(nb, root, extras=("audio",))
    data = colab_cell.load(nb)
    first = "".join(colab_cell.first_markdown(data)["source"])
    assert re.search(r"^# .+\n\n\*\*\[▶ Open in Colab\]\(.+\n\n", first, re.M), "the badge goes under the title"
    assert '"mmtutorial[audio]==' in "".join(colab_cell.setup_cell(data)["source"])
    colab_cell.write(nb, root)  # the extras are read back from the cell
    assert '"mmtutorial[audio]==' in "".join(colab_cell.setup_cell(colab_cell.load(nb))["source"])
    with pytest.raises(SystemExit):
        colab_cell.write(nb, root, extras=("nosuchextra",))


def test_write_config_points_the_rocket_menu_at_the_badges_release(tmp_path):
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    before = (tmp_path / "_config.yml").read_text(encoding="utf-8")
    assert colab_cell.config_branch(tmp_path) == yaml.safe_load(before)["repository"]["branch"]
    colab_cell.write_config_branch("9.8.7", tmp_path)
    after = (tmp_path / "_config.yml").read_text(encoding="utf-8")
    assert yaml.safe_load(after)["repository"]["branch"] == "v9.8.7"
    assert len(before.splitlines()) == len(after.splitlines()), "only the branch line changes"
    assert not colab_cell.write_config_branch("9.8.7", tmp_path)


def test_setup_cell_is_valid_python_that_never_installs_torch():
    for extras in ((), ("text",), ("audio", "text")):
        source = colab_cell.setup_source(VERSION, extras, "mmtutorial/mmtutorial")
        compile(source, "setup cell", "exec")
        assert colab_cell.GUARD in source and "torch" not in source.replace("own torch", "")
        assert colab_cell.installed_extras(source) == extras


def test_release_check_accepts_only_the_tag_of_a_dated_version(tmp_path):
    root = make_project(tmp_path, "8.1.0", CHANGELOG_BETWEEN)
    colab_cell.write(root / "notebooks" / "01_multimodal_models.ipynb", root)
    found = release_check.problems("v8.1.0", root)
    assert any("no dated entry" in p for p in found), found
    assert any("tag v8.0.0 does not match" in p for p in release_check.problems("v8.0.0", root))
    assert any("not of the form" in p for p in release_check.problems("8.1.0", root))


def test_release_check_cli_on_this_checkout():
    """What the release workflow would say if main were tagged now: accepted at a release commit,
    refused (no dated entry) between releases."""
    dated = colab_cell.released(ROOT)
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "release_check.py"), f"v{VERSION}"],
                          capture_output=True, text=True, cwd=ROOT)
    if VERSION in dated:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 1 and "no dated entry" in proc.stderr
