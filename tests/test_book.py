"""Book-level checks of the sources: the table of contents, the committed notebooks, Colab.

These read files only; `tests/test_site.py` checks the built HTML after `jupyter-book build`.
"""
from __future__ import annotations

import ast
import json
import pathlib
import re

import pytest
import yaml

import mmtutorial

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def toc_files(node=TOC) -> list[str]:
    """Every `file:` entry of _toc.yml, in order."""
    found = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(node["file"])
        if "root" in node:
            found.append(node["root"])
        for value in node.values():
            if isinstance(value, (list, dict)):
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


nb_ids = [p.stem for p in NOTEBOOKS]


def test_there_are_chapters():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


def test_notebook_names_follow_nn_slug():
    for path in NOTEBOOKS:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", path.stem), path.name


def test_every_notebook_is_in_the_toc_and_every_toc_entry_exists():
    files = toc_files()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files, f"{path.name} is not listed in _toc.yml"
    for entry in files:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb", "")]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


def test_toc_lists_chapters_in_order():
    chapters = [f for f in toc_files() if f.startswith("notebooks/")]
    assert chapters == sorted(chapters)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_committed_executed_top_to_bottom_without_errors(path):
    cells = code_cells(load(path))
    counts = [c.get("execution_count") for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..N: re-run it in a fresh kernel")
    for i, cell in enumerate(cells, 1):
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                assert "raises-exception" in tags, f"{path.name}: code cell {i} has an error output"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_outputs_come_from_the_current_package(path):
    """Each chapter prints the package version; a stale notebook shows an older one."""
    text = "".join(
        "".join(out.get("text", "")) for c in code_cells(load(path)) for out in c.get("outputs", [])
    )
    assert f"mmtutorial {mmtutorial.__version__}" in text, (
        f"{path.name} does not show `mmtutorial {mmtutorial.__version__}`: re-execute it")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_colab_badge_points_at_this_notebook(path):
    nb = load(path)
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    url = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{path.name}"
    first = "".join(source(c) for c in nb["cells"][:3] if c["cell_type"] == "markdown")
    assert url in first, f"{path.name}: no Colab badge linking {url} near the top"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_guarded_setup_cell_installs_the_package_only_in_colab(path):
    setup = source(code_cells(load(path))[0])
    assert '"google.colab" in sys.modules' in setup or "'google.colab' in sys.modules" in setup, (
        f"{path.name}: the first code cell must be the guarded Colab setup")
    strings = [n.value for n in ast.walk(ast.parse(setup))
               if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert "install" in strings, f"{path.name}: the setup cell installs nothing"
    assert any(s.startswith("mmtutorial") for s in strings), f"{path.name}: it must install mmtutorial"
    torch_like = [s for s in strings if re.match(r"torch(vision|audio)?\b", s)]
    assert not torch_like, f"{path.name}: the setup cell must never install torch: {torch_like}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_anatomy_seed_device_summary_exercises(path):
    nb = load(path)
    code = "\n".join(source(c) for c in code_cells(nb))
    prose = "\n".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "seed_everything(" in code and "get_device()" in code
    assert re.search(r"^#+ .*Summary", prose, re.M), f"{path.name}: no Summary section"
    assert re.search(r"^#+ .*Exercises", prose, re.M), f"{path.name}: no Exercises section"
    assert "assert " in code, f"{path.name}: proves nothing with an assert"


def test_notebooks_are_python3_kernels():
    for path in NOTEBOOKS:
        ks = load(path)["metadata"].get("kernelspec", {})
        assert ks.get("name") == "python3", f"{path.name}: kernelspec {ks}"


def test_requirements_use_ranges_for_torch():
    text = (ROOT / "requirements.txt").read_text()
    for name in ("torch", "torchvision"):
        line = next(l for l in text.splitlines() if re.match(rf"{name}\s*[<>=!~]", l))
        assert "==" not in line, f"requirements.txt pins {name} exactly: {line}"
    assert re.search(r"jupyter-book\s*>=\s*1\s*,\s*<\s*2", text)


def test_pyproject_states_the_package_version():
    """pip installs the version of pyproject.toml; the chapters print mmtutorial.__version__."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{mmtutorial.__version__}"' in text
