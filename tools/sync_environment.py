"""Write environment.yml from pyproject.toml, the one source of truth for dependencies.

    python tools/sync_environment.py          # rewrite environment.yml
    python tools/sync_environment.py --check  # exit 1 if environment.yml is out of date

Packages that conda-forge does not carry are installed by pip inside the environment.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PIP_ONLY = {"nest-asyncio2", "playwright"}  # not on conda-forge: installed by pip
HEADER = """\
# Generated from pyproject.toml by tools/sync_environment.py: do not edit by hand.
# conda env create -f environment.yml && conda activate async-agents-lab
name: async-agents-lab
channels:
  - conda-forge
dependencies:
"""


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in sorted(project.get("optional-dependencies", {})):
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


def render() -> str:
    python = (ROOT / "pyproject.toml").read_text()
    requires_python = tomllib.loads(python)["project"]["requires-python"]
    conda, pip = [f"python{requires_python}", "pip"], []
    for req in requirements():
        spec = f"{req.name}{req.specifier}" if req.specifier else req.name
        (pip if req.name in PIP_ONLY else conda).append(spec)
    lines = [f"  - {c}" for c in conda] + ["  - pip:"] + [f"      - {p}" for p in pip]
    lines.append("      - -e .  # the asynclab helper package (helpers/), from this folder")
    return HEADER + "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    target = ROOT / "environment.yml"
    if "--check" in argv:
        if target.read_text() != render():
            print("environment.yml is out of date: run python tools/sync_environment.py")
            return 1
        return 0
    target.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
