"""What the GitHub workflows must do (the issue's list), read from the YAML; `make test` also
lints them with the workflow schema (check-jsonschema) and zizmor's security audits, offline."""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = pathlib.Path(sys.executable).parent


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses(job: dict) -> list[str]:
    return [s["uses"] for s in steps(job) if "uses" in s]


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def test_every_action_is_pinned_by_commit_sha_with_its_tag():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"\s*(- )?uses:", line):
                assert re.search(r"uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$", line), (
                    f"{path.name}: not pinned by SHA with a `# vX.Y.Z` comment: {line.strip()}")


def test_no_job_inherits_default_permissions_and_no_expression_runs_in_a_script():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        wf = load(path.name)
        assert wf.get("permissions") == {}, f"{path.name}: top-level `permissions: {{}}`"
        for name, job in wf["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} states its permissions"
            for step in steps(job):
                assert "${{" not in step.get("run", ""), f"{path.name}: {name} expands an expression in run:"


def test_site_workflow_builds_tests_and_deploys_main_and_uploads_pull_requests():
    wf = load("book.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and "pull_request" in wf["on"]
    build, deploy = wf["jobs"]["build"], wf["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read"}
    script = runs(build)
    assert "make install TORCH_INDEX=https://download.pytorch.org/whl/cpu" in script
    assert "make site" in script and "system-packages.sh" in script
    actions = " ".join(uses(build))
    assert "actions/setup-python@" in actions and "actions/cache@" in actions
    setup_python = next(s for s in steps(build) if "setup-python" in s.get("uses", ""))
    assert setup_python["with"]["cache"] == "pip"
    npm = next(s for s in steps(build) if "actions/cache" in s.get("uses", ""))
    assert npm["with"]["path"] == "~/.npm" and "package-lock.json" in npm["with"]["key"]
    pages = next(s for s in steps(build) if "upload-pages-artifact" in s.get("uses", ""))
    review = next(s for s in steps(build) if "actions/upload-artifact" in s.get("uses", ""))
    assert pages["with"]["path"] == review["with"]["path"] == "_build/html"
    assert pages["if"] == "github.event_name != 'pull_request'" and review["if"] == "github.event_name == 'pull_request'"
    assert "refs/heads/main" in deploy["if"] and "pull_request" in deploy["if"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages" and deploy["needs"] == "build"
    assert any("actions/deploy-pages@" in u for u in uses(deploy))


def test_release_workflow_checks_the_tag_and_publishes_by_trusted_publishing():
    wf = load("release.yml")
    assert wf["on"] == {"push": {"tags": ["v*"]}}
    build, publish = wf["jobs"]["build"], wf["jobs"]["publish"]
    script = runs(build)
    order = [script.index(s) for s in ("tools/release_check.py", "python -m build", "twine check --strict",
                                       "tools/import_check.py")]
    assert order == sorted(order), "check the tag, build, twine check, then install and import"
    assert build["permissions"] == {"contents": "read"}
    assert publish["permissions"] == {"id-token": "write"}, "trusted publishing needs only the OIDC token"
    assert publish["environment"]["name"] == "pypi" and publish["needs"] == "build"
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses(publish))
    text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    assert not re.search(r"password:|api-token|secrets\.", text), "no token: trusted publishing"


def test_the_make_targets_the_workflows_call_exist():
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("install", "site", "test", "lint", "dist"):
        assert re.search(rf"^{target}:", make, re.M), f"Makefile has no `{target}` target"
    for tool in ("release_check.py", "import_check.py", "colab_cell.py"):
        assert (ROOT / "tools" / tool).is_file()


@pytest.mark.parametrize("cmd", [
    ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *sorted(str(p) for p in WORKFLOWS.glob("*.yml"))],
    ["zizmor", "--offline", "--no-progress", "--persona", "auditor", str(ROOT / ".github")],
], ids=["schema", "zizmor-auditor"])
def test_linters_pass(cmd):
    """`make test` runs them too (zizmor with its default persona); here the strictest one."""
    exe = BIN / cmd[0] if (BIN / cmd[0]).exists() else shutil.which(cmd[0])
    if exe is None:
        pytest.skip(f"{cmd[0]} is not installed (requirements.txt installs it)")
    proc = subprocess.run([str(exe), *cmd[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout
