"""Colab readiness: a chapter runs where only torch, torchvision and a Jupyter kernel exist.

A Colab runtime brings its own torch and torchvision; a chapter's first code cell installs
`mmtutorial` (and, through its declared dependencies, everything else the chapter imports).
This test rebuilds that situation and runs a chapter in it, top to bottom:

1. A fresh virtual environment (no system site packages, no pip of its own) sees the packages
   a Colab runtime already has, torch, torchvision, pip and ipykernel, without copying them:
   a `.pth` file adds a "shim" folder to `sys.path`, and the shim holds symlinks to exactly the
   files of the distributions these require (their requirement closure in the project's
   `.venv`, markers evaluated, requested extras followed), `.dist-info` folders included, so
   that pip sees torch as installed and never fetches another one. The shim lies outside the
   fresh environment, so pip refuses to uninstall anything in it (it could otherwise delete
   files of `.venv` through the links). Before the chapter runs, the test checks that torch,
   torchvision and ipykernel import there and that mmtutorial, scikit-learn, matplotlib and
   ipywidgets do not.
2. The kernel runs the fresh environment's Python (from a kernelspec in the test's temporary
   folder: nothing is registered with Jupyter) with a stub `google.colab` package on its
   `PYTHONPATH`; an extra first cell imports it, so the setup cell takes its Colab branch.
3. The setup cell must be exactly the one `tools/colab_cell.py` writes for the version in
   pyproject.toml; its first install target (`mmtutorial==VERSION`, from PyPI) is rewritten in
   memory to a copy of the working tree (the files git tracks or would track), installed
   non-editable, as in Colab. (Its fallback, the git tag, is tested in tests/test_release.py.)
4. The chapter executes in an empty working directory (as `/content` in Colab); cells tagged
   `raises-exception` may raise. Afterwards the test checks that mmtutorial was imported from
   the fresh environment, that there is exactly one torch, the shim's, that pip replaced
   none of torch's dependencies, and that `pip check` is clean.

By default it runs `notebooks/01_multimodal_models.ipynb` (skipped while that chapter does not
exist); `MMTUTORIAL_COLAB_ALL=1` runs every chapter, each in its own fresh environment;
`MMTUTORIAL_COLAB_NOTEBOOK=a.ipynb[:b.ipynb...]` runs the given notebooks instead.
"""
from __future__ import annotations

import datetime
import importlib.metadata as md
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import colab_cell  # noqa: E402  (tools/colab_cell.py: what the setup cell must be)

DEFAULT_CHAPTER = ROOT / "notebooks" / "01_multimodal_models.ipynb"
PREINSTALLED = ("torch", "torchvision")  # Colab's own torch: the book never installs it
RUNTIME = ("pip", "ipykernel")  # what any Colab runtime has to run a notebook
MUST_BE_MISSING = ("mmtutorial", "sklearn", "matplotlib", "ipywidgets")  # the setup cell's job
CELL_TIMEOUT = 900  # seconds per cell; the setup cell's pip install is the slow one
KERNEL_NAME = "colab-sim"
PROBE_TAG = "COLAB-CHECK "
PROBE = f"""\
import json as _j, sys as _s, mmtutorial as _m, torch as _t, torchvision as _v
print({PROBE_TAG!r} + _j.dumps({{
    "executable": _s.executable, "colab": "google.colab" in _s.modules, "mmtutorial": _m.__file__,
    "torch": _t.__file__, "torch_version": _t.__version__, "torchvision": _v.__file__}}))
"""  # appended as the last cell: where the chapter's kernel found its packages
# Variables of this process that must not leak into the fresh environment.
ENV_DROP = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "VIRTUAL_ENV",
            "CONDA_PREFIX", "JUPYTER_PATH", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
            "IPYTHONDIR", "MPLBACKEND", "COVERAGE_PROCESS_START", "PIP_TARGET", "PIP_PREFIX",
            "PIP_USER", "PIP_REQUIRE_VIRTUALENV")


# --------------------------------------------------------------------------- which chapters


def chapter_params() -> list:
    override = os.environ.get("MMTUTORIAL_COLAB_NOTEBOOK")
    if override:
        paths = [pathlib.Path(p).resolve() for p in override.split(os.pathsep) if p]
        return [pytest.param(p, id=p.name) for p in paths]
    if os.environ.get("MMTUTORIAL_COLAB_ALL") == "1":
        paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
        if paths:
            return [pytest.param(p, id=p.name) for p in paths]
        return [pytest.param(None, id="no-chapters",
                             marks=pytest.mark.skip(reason="notebooks/ holds no chapter yet"))]
    if DEFAULT_CHAPTER.exists():
        return [pytest.param(DEFAULT_CHAPTER, id=DEFAULT_CHAPTER.name)]
    return [pytest.param(DEFAULT_CHAPTER, id=DEFAULT_CHAPTER.name, marks=pytest.mark.skip(
        reason=f"{DEFAULT_CHAPTER.relative_to(ROOT)} does not exist yet"))]


# --------------------------------------------------------------------------- helpers


ANSI = re.compile(r"\x1b\[[0-9;]*m")
# pip's warning, on this kind of machine, for each project its second local index lacks.
NOISE = re.compile(r"WARNING: Location '.*' is ignored: it is neither a file nor a directory")


def tail(text: str, lines: int = 60) -> str:
    """The last `lines` lines of `text`, without colour codes and known noise."""
    kept = [ln for ln in ANSI.sub("", text).splitlines() if ln.strip() and not NOISE.search(ln)]
    return "\n".join(kept[-lines:])


def run(cmd: list[str], env: dict[str, str], what: str, timeout: int = 900) -> str:
    """Run `cmd` away from the checkout; on failure, fail the test with its output's tail."""
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, cwd=pathlib.Path(env["VIRTUAL_ENV"]).parent)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                    f"--- last lines of its output ---\n{tail(proc.stdout)}", pytrace=False)
    return proc.stdout


def site_packages(venv: pathlib.Path) -> pathlib.Path:
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def clean_env(venv: pathlib.Path) -> dict[str, str]:
    """This process's environment (pip's configuration included), pointed at `venv`."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    own_bin = str(pathlib.Path(sys.prefix) / "bin")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != own_bin]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    return env


def requirement_closure(roots: tuple[str, ...]) -> dict[str, md.Distribution]:
    """The installed distributions that `roots` need, by canonical name.

    Environment markers are evaluated for this interpreter; a requirement guarded by
    `extra == "x"` counts only when something asked for that extra (e.g. torch asks for
    `cuda-toolkit[cublas,...]`, which pulls in `nvidia-cublas`).
    """
    dists: dict[str, md.Distribution] = {}
    extras_done: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str], str]] = [(r, frozenset(), "") for r in roots]
    while todo:
        name, extras, needed_by = todo.pop()
        key = canonicalize_name(name)
        if key in extras_done and extras <= extras_done[key]:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            pytest.fail(f"{name} (needed by {needed_by or 'the test'}) is not installed in "
                        f"{sys.prefix}: the shim cannot provide it", pytrace=False)
        dists[key] = dist
        extras_done[key] = extras_done.get(key, set()) | extras
        active = [{"extra": e} for e in ({""} | extras_done[key])]
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not any(req.marker.evaluate(a) for a in active):
                continue
            try:
                have = md.version(req.name)
            except md.PackageNotFoundError:
                have = None
            if have is not None and not req.specifier.contains(have, prereleases=True):
                pytest.fail(f"{key} requires {spec!r} but {req.name} {have} is installed: pip "
                            "would replace it in the fresh environment", pytrace=False)
            todo.append((req.name, frozenset(canonicalize_name(e) for e in req.extras), key))
    return dists


def dist_paths(dist: md.Distribution) -> set[tuple[str, ...]]:
    """Paths (as parts) that `dist` installed inside its site-packages folder."""
    paths = set()
    for f in dist.files or []:
        parts = pathlib.PurePosixPath(str(f)).parts
        if parts and parts[0] not in ("..", "__pycache__") and not parts[0].endswith(".pth"):
            paths.add(parts)
    info = getattr(dist, "_path", None)  # the .dist-info folder, in case RECORD is missing
    if info is not None:
        paths.add((pathlib.Path(info).name,))
    return paths


def link_entry(site: pathlib.Path, shim: pathlib.Path, rel: tuple[str, ...],
               wanted: set[tuple[str, ...]], foreign: set[tuple[str, ...]]) -> int:
    """Link `site/rel` into `shim` (whole, or child by child if `foreign` owns part of it)."""
    source, target = site.joinpath(*rel), shim.joinpath(*rel)
    if not source.exists():
        return 0
    if rel not in foreign or not source.is_dir():
        target.symlink_to(source, target_is_directory=source.is_dir())
        return 1
    target.mkdir()
    children = {p[len(rel)] for p in wanted if len(p) > len(rel) and p[:len(rel)] == rel}
    return sum(link_entry(site, shim, rel + (c,), wanted, foreign) for c in sorted(children))


def build_shim(shim: pathlib.Path, closure: dict[str, md.Distribution]) -> int:
    """Symlink the closure's files into `shim`; returns the number of links made.

    A top-level entry is linked whole unless a distribution outside the closure also owns
    files below it (a shared namespace folder such as `nvidia/`): then the folder is made for
    real and the same rule applies one level down.
    """
    shim.mkdir()
    by_site: dict[pathlib.Path, list[md.Distribution]] = {}
    for dist in closure.values():
        by_site.setdefault(pathlib.Path(str(dist.locate_file(""))), []).append(dist)
    links = 0
    for site, dists in by_site.items():
        wanted = set().union(*(dist_paths(d) for d in dists))
        names = {canonicalize_name(d.metadata["Name"]) for d in dists}
        foreign: set[tuple[str, ...]] = set()  # every prefix of files owned by other dists
        for other in md.distributions(path=[str(site)]):
            if canonicalize_name(other.metadata["Name"]) not in names:
                for parts in dist_paths(other):
                    foreign.update(parts[:i] for i in range(1, len(parts) + 1))
        for top in sorted({p[0] for p in wanted}):
            if not shim.joinpath(top).exists():
                links += link_entry(site, shim, (top,), wanted, foreign)
    return links


def copy_tree_for_pip(dest: pathlib.Path) -> pathlib.Path:
    """Copy the files git tracks or would track (not ignored ones) to `dest`.

    A non-editable install from the checkout itself would leave `build/` and `*.egg-info`
    there; a copy also makes the install see what a clone would, plus uncommitted edits.
    """
    try:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, check=True).stdout.decode()
        files = [f for f in listed.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "node_modules", "_build", "_vendor", "build"}
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)]
    for rel in files:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    if not (dest / "pyproject.toml").is_file():
        pytest.fail("the copy of the working tree has no pyproject.toml", pytrace=False)
    return dest


INSPECT = r"""
import importlib, importlib.metadata as md, json, re, sys
mods = {}
for name in sys.argv[1:]:
    try:
        mod = importlib.import_module(name)
        mods[name] = {"ok": True, "version": getattr(mod, "__version__", None),
                      "file": getattr(mod, "__file__", None)}
    except Exception as exc:
        mods[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
dists = {}
for d in md.distributions():
    name = re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
    dists.setdefault(name, []).append([d.version, str(d.locate_file(""))])
print(json.dumps({"prefix": sys.prefix, "modules": mods, "dists": dists}))
"""


def inspect(python: pathlib.Path, env: dict[str, str], modules: tuple[str, ...]) -> dict:
    out = run([str(python), "-c", INSPECT, *modules], env, "inspecting the fresh environment")
    return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the environment


class Shim:
    """The folder of links that stands for the packages a Colab runtime already has."""

    def __init__(self, root: pathlib.Path) -> None:
        t0 = time.perf_counter()
        self.torch_stack = requirement_closure(PREINSTALLED)
        self.closure = {**requirement_closure(RUNTIME), **self.torch_stack}
        self.path = root / "preinstalled"
        self.links = build_shim(self.path, self.closure)
        self.seconds = time.perf_counter() - t0
        print(f"\n[colab] shim: {len(self.closure)} distributions, {self.links} links, "
              f"{self.seconds:.1f} s; torch's closure: {', '.join(sorted(self.torch_stack))}")

    def new_venv(self, venv: pathlib.Path) -> pathlib.Path:
        """A fresh venv (no system site packages) that sees the shim through a .pth file.

        `--without-pip`: pip comes from the shim too, so the venv has no setuptools of its own
        to shadow the one torch requires (and creating it takes 0.1 s instead of 7 s).
        """
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                       cwd=venv.parent)
        site = site_packages(venv)
        assert site.is_dir(), f"unexpected venv layout: no {site}"
        (site / "colab_preinstalled.pth").write_text(f"{self.path}\n")
        for name in ("pip", "pip3"):  # what `!pip install ...` in a notebook would run
            script = venv / "bin" / name
            script.write_text(f'#!/bin/sh\nexec "{venv}/bin/python" -m pip "$@"\n')
            script.chmod(0o755)
        return venv


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Shim:
    return Shim(tmp_path_factory.mktemp("colab"))


# --------------------------------------------------------------------------- the notebook


def colab_stub(root: pathlib.Path) -> pathlib.Path:
    """A folder holding `google/colab/__init__.py` (`google` stays a namespace package)."""
    pkg = root / "google" / "colab"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Stand-in for Colab\'s module: its presence is the signal."""\n')
    return root


def prepare(nb_path: pathlib.Path, source_uri: str) -> nbformat.NotebookNode:
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{nb_path.name} has no code cell"
    setup = code[0]
    version, repo = colab_cell.project_version(ROOT), colab_cell.repository(ROOT)
    extras = colab_cell.installed_extras(setup.source)
    expected = colab_cell.setup_source(version, extras, repo)
    if setup.source != expected:
        pytest.fail(f"the first code cell of {nb_path.name} is not the Colab setup cell for "
                    f"mmtutorial {version} (run: python tools/colab_cell.py --write {nb_path.name}); "
                    f"it reads:\n{setup.source}", pytrace=False)
    pypi, _ = colab_cell.install_targets(version, extras, repo)
    name = pypi.split("==")[0]
    setup.source = setup.source.replace(f'"{pypi}"', f'"{name} @ {source_uri}"', 1)
    assert source_uri in setup.source
    setup.metadata["colab_check_setup"] = True
    nb.cells.insert(0, nbformat.v4.new_code_cell("import google.colab  # simulated Colab runtime"))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    return nb


def cell_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "".join(parts)


def seconds(cell) -> float | None:
    """Run time of an executed cell, from the timestamps nbclient records."""
    stamps = cell.metadata.get("execution", {})
    begin, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (begin and end):
        return None
    parse = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(begin)).total_seconds()


def execute(nb, venv: pathlib.Path, stub: pathlib.Path, workdir: pathlib.Path,
            log: pathlib.Path) -> None:
    """Run `nb` in a kernel of `venv`; the kernel's own stdout/stderr (pip's too) go to `log`."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    kernels = workdir.parent / "kernels"  # a private kernelspec folder: nothing is registered
    spec = kernels / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (simulated Colab)", "language": "python"}))
    env = clean_env(venv)
    env["PYTHONPATH"] = str(stub)
    km = AsyncKernelManager(kernel_name=KERNEL_NAME,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(workdir)}})
    with open(log, "w") as out:
        try:  # cleanup_kc: shut the kernel down at the end (the client does not own `km`)
            client.execute(env=env, stdout=out, stderr=subprocess.STDOUT, cleanup_kc=True)
        finally:
            nbformat.write(nb, workdir.parent / "executed.ipynb")


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("chapter", chapter_params())
def test_chapter_runs_in_fresh_colab_like_env(chapter, shim, tmp_path):
    from nbclient.exceptions import CellExecutionError

    t0 = time.perf_counter()
    source = tmp_path / "mmtutorial-src"
    nb = prepare(chapter, source.as_uri())  # first: fails fast if the setup cell changed
    venv = shim.new_venv(tmp_path / "venv")
    py, env, site = venv / "bin" / "python", clean_env(venv), site_packages(venv)

    # The starting point: torch, torchvision and the kernel work; the book's stack is absent.
    before = inspect(py, env, (*PREINSTALLED, *RUNTIME, *MUST_BE_MISSING))
    assert before["prefix"] == str(venv), before["prefix"]
    for name in (*PREINSTALLED, *RUNTIME):
        mod = before["modules"][name]
        assert mod["ok"] and mod["file"].startswith(str(shim.path)), (
            f"{name} is not importable from the shim in the fresh venv: {mod}")
    present = {m: before["modules"][m] for m in MUST_BE_MISSING
               if before["modules"][m]["ok"] or "ModuleNotFoundError" not in before["modules"][m]["error"]}
    assert not present, f"importable before the setup cell ran (the check would prove nothing): {present}"
    torch_version = before["modules"]["torch"]["version"]

    # The chapter, with Colab's signal on and the install pointed at the working tree.
    copy_tree_for_pip(source)
    setup = next(c for c in nb.cells if c.metadata.get("colab_check_setup"))
    workdir, log = tmp_path / "content", tmp_path / "kernel.log"
    workdir.mkdir()
    t1 = time.perf_counter()
    failure = None
    try:
        execute(nb, venv, colab_stub(tmp_path / "stub"), workdir, log)
    except CellExecutionError as exc:
        failure = str(exc)
    if failure is not None:  # reported outside `except`: no chained traceback in colour
        kernel_out = log.read_text(errors="replace") if log.exists() else ""
        pytest.fail(f"{chapter.name} failed in the simulated Colab runtime (executed copy: "
                    f"{tmp_path / 'executed.ipynb'}).\n"
                    f"--- kernel stdout/stderr (pip's output included), last lines ---\n"
                    f"{tail(kernel_out, 40) or '(none)'}\n"
                    f"--- setup cell output ---\n{tail(cell_text(setup)) or '(none)'}\n"
                    f"--- error ---\n{tail(failure, 80)}", pytrace=False)
    t2 = time.perf_counter()

    # mmtutorial came from the fresh venv, torch from the shim, and nothing else moved.
    probe_lines = [ln for ln in cell_text(nb.cells[-1]).splitlines() if ln.startswith(PROBE_TAG)]
    assert probe_lines, f"the final probe cell printed nothing: {cell_text(nb.cells[-1])!r}"
    probe = json.loads(probe_lines[-1][len(PROBE_TAG):])
    assert probe["colab"], "google.colab was not in sys.modules: the setup cell skipped its install"
    assert probe["executable"] == str(py), probe["executable"]
    assert probe["mmtutorial"].startswith(str(site)), (
        f"mmtutorial came from {probe['mmtutorial']}, not from the fresh venv's site-packages")
    assert probe["torch"].startswith(str(shim.path)) and probe["torch_version"] == torch_version, (
        f"the kernel used torch {probe['torch_version']} from {probe['torch']}, not the shim's")

    after = inspect(py, env, ())
    for name in sorted(shim.torch_stack):
        copies = after["dists"].get(name, [])
        assert len(copies) == 1 and copies[0][1] == str(shim.path), (
            f"installing mmtutorial added another {name} beside the preinstalled one: {copies} "
            "(on Colab it would replace part of the runtime's torch stack)")
    shadowed = sorted(n for n in shim.closure if len(after["dists"].get(n, [])) > 1)
    if shadowed:
        print(f"[colab] note: the setup cell installed newer copies of preinstalled {shadowed}")
    mm = after["dists"].get("mmtutorial", [])
    assert len(mm) == 1 and mm[0][1] == str(site), f"mmtutorial installs: {mm}"
    version = colab_cell.project_version(ROOT)
    assert mm[0][0] == version, f"the setup cell installed mmtutorial {mm[0][0]}, not {version}"
    shown = colab_cell.printed_versions(nb)
    assert shown == {version}, f"the chapter printed mmtutorial {sorted(shown)} while running, not {version}"
    assert not (site / "torch").exists(), f"a second torch lies in {site}"
    listed = json.loads(run([str(py), "-m", "pip", "list", "--format=json"], env, "pip list"))
    torches = [p for p in listed if canonicalize_name(p["name"]) == "torch"]
    assert [p["version"] for p in torches] == [md.version("torch")], f"pip list shows torch as {torches}"
    check = subprocess.run([str(py), "-m", "pip", "check"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    assert check.returncode == 0, f"pip check in the fresh environment:\n{tail(check.stdout)}"
    t3 = time.perf_counter()

    setup_s = seconds(setup)
    print(f"[colab] {chapter.name}: OK with mmtutorial {mm[0][0]}, torch {torch_version}. "
          f"Times: venv + pre-checks {t1 - t0:.1f} s, notebook {t2 - t1:.1f} s "
          f"(setup cell {setup_s if setup_s is None else round(setup_s, 1)} s), "
          f"post-checks {t3 - t2:.1f} s, total {t3 - t0 + shim.seconds:.1f} s")
    shutil.rmtree(venv, ignore_errors=True)  # ~300 MB; the executed notebook and log stay
