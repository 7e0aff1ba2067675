"""The release, rehearsed: build the sdist and the wheel as the release workflow does, check them,
install the wheel into a fresh environment and import every public module there; and run the
chapters' Colab setup cell where PyPI does not have the version, so that it falls back to the
git tag.

Fast by design (seconds, not a fresh torch install): the distributions are built from a copy
of the working tree with the project's own setuptools (`python -m build --no-isolation`); the
fresh environment has no packages of its own and sees, through a `.pth` file, a "shim" folder of
symlinks to exactly the wheel's declared dependencies (their requirement closure in `.venv`, as
tests/test_colab.py builds it) and pip. The wheel goes in with `pip install --no-deps`; `pip
check` then proves that the declared dependencies are all there. A module that the wheel lacks,
or one that imports a package the wheel does not declare, fails the import check.
"""
from __future__ import annotations

import email
import pathlib
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest
from packaging.requirements import Requirement

import test_colab as colab  # the shim and the fresh-venv helpers

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402

VERSION = colab_cell.project_version(ROOT)
WHEEL = f"mmtutorial-{VERSION}-py3-none-any.whl"
SDIST = f"mmtutorial-{VERSION}.tar.gz"


def tracked_package_files() -> set[str]:
    """The package's files a clean clone (plus files not yet committed, not ignored) holds."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard", "mmtutorial"], stdout=subprocess.PIPE, check=True).stdout
    return {f for f in out.decode().split("\0") if f and (ROOT / f).is_file()}


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, pathlib.Path]:
    base = tmp_path_factory.mktemp("release")
    src = colab.copy_tree_for_pip(base / "src")
    out = base / "dist"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=base)
    assert proc.returncode == 0, f"python -m build failed:\n{colab.tail(proc.stdout)}"
    print(f"\n[release] sdist + wheel built in {time.perf_counter() - t0:.1f} s")
    found = {p.name: p for p in out.iterdir()}
    assert set(found) == {WHEEL, SDIST}, f"built {sorted(found)}, expected {WHEEL} and {SDIST}"
    return {"wheel": found[WHEEL], "sdist": found[SDIST], "base": base}


def wheel_metadata(wheel: pathlib.Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        return email.message_from_bytes(zf.read(f"mmtutorial-{VERSION}.dist-info/METADATA"))


def test_distributions_pass_twine_check(dists):
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                           str(dists["wheel"]), str(dists["sdist"])],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout


def test_wheel_holds_the_package_and_its_metadata(dists):
    meta = wheel_metadata(dists["wheel"])
    assert meta["Name"] == "mmtutorial" and meta["Version"] == VERSION
    assert meta["Requires-Python"], "Requires-Python is declared"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Documentation", "Repository", "Changelog"} <= set(urls), urls
    assert meta["License-Expression"] == "MIT", meta["License-Expression"]
    with zipfile.ZipFile(dists["wheel"]) as zf:
        license_text = zf.read(f"mmtutorial-{VERSION}.dist-info/licenses/LICENSE").decode()
        names = {n for n in zf.namelist() if not n.startswith(f"mmtutorial-{VERSION}.dist-info/")}
    assert license_text == (ROOT / "LICENSE").read_text(), "the wheel carries the repository's LICENSE"
    expected = {f for f in tracked_package_files() if f.endswith(".py")}
    assert expected - names == set(), f"the wheel lacks {sorted(expected - names)}"
    stray = sorted(n for n in names if not n.startswith("mmtutorial/"))
    assert not stray, f"the wheel installs files outside the package: {stray}"


def test_sdist_holds_what_a_build_needs(dists):
    with tarfile.open(dists["sdist"]) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    needed = {"pyproject.toml", "README.md", "LICENSE"} | {f for f in tracked_package_files() if f.endswith(".py")}
    assert needed - names == set(), f"the sdist lacks {sorted(needed - names)}"


@pytest.fixture(scope="module")
def shim(dists) -> pathlib.Path:
    """Symlinks to pip and to the wheel's declared (non-extra) dependencies, nothing else."""
    meta = wheel_metadata(dists["wheel"])
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    base = [r.name for r in requires if r.marker is None or r.marker.evaluate({"extra": ""})]
    assert "torch" in base, base
    closure = colab.requirement_closure(("pip", *base))
    path = dists["base"] / "shim"
    colab.build_shim(path, closure)
    return path


def fresh_venv(path: pathlib.Path, shim: pathlib.Path) -> tuple[pathlib.Path, dict[str, str]]:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    (colab.site_packages(path) / "shim.pth").write_text(f"{shim}\n")
    return path / "bin" / "python", colab.clean_env(path)


def test_wheel_installs_in_a_fresh_environment_and_imports_every_public_module(dists, shim):
    py, env = fresh_venv(dists["base"] / "wheel-env", shim)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check"]
    colab.run([*pip, "install", "-q", "--no-deps", "--no-index", str(dists["wheel"])], env, "pip install")
    colab.run([*pip, "check"], env, "pip check (the wheel's declared dependencies)")
    out = colab.run([str(py), str(ROOT / "tools" / "import_check.py"), "--version", VERSION,
                     "--not-under", str(ROOT)], env, "importing every public module")
    print(f"\n[release] {out.strip().splitlines()[-1]}")


def test_setup_cell_falls_back_to_the_git_tag_and_says_when_both_fail(dists, shim, tmp_path):
    """PyPI lacks the version -> the second target (the tag; here: the built wheel) installs it."""
    repo = colab_cell.repository(ROOT)
    cell = colab_cell.setup_source(VERSION, (), repo)
    pypi, tag = colab_cell.install_targets(VERSION, (), repo)
    missing = f"mmtutorial @ {(tmp_path / 'not-on-pypi.whl').as_uri()}"  # fails at once, offline
    stub = colab.colab_stub(tmp_path / "stub")

    def run_cell(source: str, venv: pathlib.Path) -> subprocess.CompletedProcess:
        py, env = fresh_venv(venv, shim)
        env["PYTHONPATH"] = str(stub)
        return subprocess.run([str(py), "-c", "import google.colab\n" + source], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)

    works = cell.replace(f'"{pypi}"', f'"{missing}"').replace(f'"{tag}"', f'"mmtutorial @ {dists["wheel"].as_uri()}"')
    assert works != cell and missing in works
    proc = run_cell(works, tmp_path / "env-fallback")
    assert proc.returncode == 0, colab.tail(proc.stdout)
    installed = list(colab.site_packages(tmp_path / "env-fallback").glob("mmtutorial-*.dist-info"))
    assert [p.name for p in installed] == [f"mmtutorial-{VERSION}.dist-info"], installed

    neither = cell.replace(f'"{pypi}"', f'"{missing}"').replace(f'"{tag}"', f'"{missing}"')
    proc = run_cell(neither, tmp_path / "env-none")
    assert proc.returncode != 0 and f"mmtutorial {VERSION} could not be installed" in proc.stdout, proc.stdout
