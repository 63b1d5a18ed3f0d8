"""``check_environment()``: tell a learner, in plain words, whether everything is installed."""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement

__all__ = ["check_environment"]


def _requirements() -> list[Requirement]:
    # The package's own metadata: pyproject.toml is the one list of what the lab needs.
    reqs = [Requirement(r) for r in metadata.requires("asynclab") or []]
    return [r for r in reqs if r.marker is None]


def check_environment(*, show: bool = True) -> list[str]:
    """Check the Python version and every required package; return the problems found
    (an empty list when all is well). With ``show``, print one line per check."""
    rows: list[tuple[str, str, str, bool]] = []
    ok_python = sys.version_info >= (3, 11)
    rows.append(("python", ">=3.11", sys.version.split()[0], ok_python))
    for req in _requirements():
        try:
            found = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            rows.append((req.name, str(req.specifier), "missing", False))
            continue
        rows.append((req.name, str(req.specifier), found, req.specifier.contains(found, prereleases=True)))
    problems = [
        f"{name} {want} is needed, found {found}" for name, want, found, ok in rows if not ok
    ]
    if show:
        for name, want, found, ok in rows:
            print(f"{'ok ' if ok else 'NO '} {name:<15} {want:<14} {found}")
        if problems:
            print("\nFix: from the collection's folder run `make lab` (or `pip install -e .`),"
                  " then restart the kernel.")
        else:
            print("\nEverything the collection needs is installed.")
    return problems
