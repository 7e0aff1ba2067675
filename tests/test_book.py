"""Book-level checks of the sources: the table of contents, the committed notebooks, Colab.

These read files only; `tests/test_site.py` checks the built HTML after `jupyter-book build`.
"""
from __future__ import annotations

import json
import pathlib
import re

import pytest
import yaml


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
def test_colab_badge_points_at_this_notebook(path):
    nb = load(path)
    repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    branch = CONFIG["repository"]["branch"]
    url = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{path.name}"
    first = "".join(source(c) for c in nb["cells"][:3] if c["cell_type"] == "markdown")
    assert url in first, f"{path.name}: no Colab badge linking {url} near the top"


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


# --------------------------------------------------------------------- intro, Chinese, exercises

CJK = re.compile(r"[\u4e00-\u9fff]")


def notebook_label_and_title(path: pathlib.Path) -> tuple[str, str]:
    first = source(load(path)["cells"][0])
    label = re.search(r"^\(([\w-]+)\)=", first, re.M)
    title = re.search(r"^# (.+)$", first, re.M)
    assert label and title, f"{path.name}: the first cell must hold a `(label)=` line and the `# Title`"
    return label.group(1), title.group(1).strip()


def test_the_intro_map_agrees_with_the_table_of_contents():
    text = (ROOT / "book" / "intro.md").read_text(encoding="utf-8")
    table = text[text.index("## Map of the chapters"):text.index("## Where to start")]
    rows = [r.split("|")[1:-1] for r in table.splitlines() if r.startswith("| ") and "---" not in r][1:]
    chapters = [r for r in rows if r[0].strip() != "Appendix"]
    linked = [(re.fullmatch(r"\[(.+)\]\(#([\w-]+)\)", r[1].strip()), r[3].strip()) for r in chapters]
    available = [(m.group(2), m.group(1)) for m, status in linked if m]
    in_toc = [notebook_label_and_title(ROOT / f"{f}.ipynb") for f in toc_files() if f.startswith("notebooks/")]
    assert available == in_toc, "the chapters the map links must be exactly those of _toc.yml, in order"
    for m, status in linked:
        assert status == ("available" if m else "*in preparation*"), (m, status)
    assert [i for i, (m, _) in enumerate(linked) if m] == list(range(len(available))), "planned chapters come last"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_every_chapter_ends_with_a_chinese_summary(path):
    cells = [source(c) for c in load(path)["cells"] if c["cell_type"] == "markdown"]
    prose = "\n".join(cells)
    section = re.search(r"^## 中文小结\n(.+?)(?=^## |\Z)", prose, re.M | re.S)
    assert section, f"{path.name}: no `## 中文小结` section"
    assert len(CJK.findall(section.group(1))) > 80, f"{path.name}: the 中文小结 holds too little Chinese"
    assert prose.index("## 中文小结") > prose.index("## Summary"), "the 中文小结 follows the summary"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=nb_ids)
def test_every_exercise_has_its_own_hidden_solution(path):
    prose = "\n".join(source(c) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    exercises = prose[prose.index("## Exercises"):]
    exercises = exercises[:exercises.index("\n## ", 1)] if "\n## " in exercises[1:] else exercises
    numbered = re.findall(r"^(\d+)\. ", exercises, re.M)
    solutions = exercises.count("<summary>Solution</summary>")
    assert numbered and solutions == len(numbered), (
        f"{path.name}: {len(numbered)} exercises but {solutions} `<details>` solution blocks")
    assert exercises.count("<details>") == exercises.count("</details>") == solutions


def test_no_chinese_term_names_two_glossary_entries():
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    body = text[text.index("```{glossary}"):].split("\n")[1:]
    entries, current = [], None
    for line in body:
        if line.startswith("```"):
            break
        if not line.strip() or line.startswith(":"):
            current = None
        elif not line.startswith(" "):
            if current is None:
                current = []
                entries.append(current)
            current.append(line.strip())
    owners: dict[str, list[str]] = {}
    for terms in entries:
        for term in terms[1:]:
            if CJK.search(term):
                owners.setdefault(term, []).append(terms[0])
    assert len(entries) > 60 and all(CJK.search(" ".join(t)) for t in entries), "every term has a Chinese name"
    shared = {zh: en for zh, en in owners.items() if len(en) > 1}
    assert not shared, f"Chinese terms used for two English terms: {shared}"
