"""The project's own consistency: one list of dependencies, clean lint, clean notebooks."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from hygiene import machine_paths
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def pyproject_requirements() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {Requirement(r).name: Requirement(r).specifier for r in reqs}


def environment_requirements() -> tuple[str, dict[str, SpecifierSet]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    found: dict[str, SpecifierSet] = {}
    python = ""
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e"):
                continue
            req = Requirement(item.split("#")[0].strip())
            if req.name == "python":
                python = str(req.specifier)
            elif req.name != "pip":
                found[req.name] = req.specifier
    return python, found


def test_environment_yml_installs_the_same_set_as_pyproject():
    python, env = environment_requirements()
    assert env == pyproject_requirements()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(python) == SpecifierSet(requires) and "3.11" in SpecifierSet(python)


def test_environment_yml_is_generated_from_pyproject():
    done = subprocess.run([sys.executable, "tools/sync_environment.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_ruff_finds_nothing_in_helpers_tests_tools_and_notebooks():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "helpers", "tests", "tools",
                           "notebooks"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_executed_in_order_without_errors_or_machine_paths(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and c["source"]]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, "saved with unexecuted cells: run tools/execute_notebooks.py"
    assert counts == list(range(1, len(code) + 1)), "not run top to bottom in a fresh kernel"
    # Solution cells run in order like the others (they assert that the check passes), but
    # tools/execute_notebooks.py saves them without outputs, so nbval must not compare them.
    for i, cell in enumerate(code):
        tags = cell["metadata"].get("tags", [])
        if "solution" in tags:
            assert "nbval-ignore-output" in tags, \
                f"cell {i}: a solution cell is saved without outputs, tag it nbval-ignore-output"
    paths = machine_paths()
    for i, cell in enumerate(code):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"cell {i} saved with an error"
            assert not paths.search(json.dumps(out)), f"cell {i} shows a machine path"
    assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", [])), \
        "learners should see at least one recorded figure before running anything"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_house_frame(path):
    nb = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert re.search(r"^# \d\d[a-z]? · ", text, re.M), "title '# NN · ...'"
    for heading in ("You will learn", "Time:", "Key points"):
        assert heading in text, f"missing '{heading}'"
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "assert " in code, "every notebook checks its claims with asserts"
