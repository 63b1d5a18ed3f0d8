"""Write the student edition: every notebook without its solutions and without outputs.

    python tools/student_edition.py [--out DIR]   (default: student/, which git ignores)

Cells tagged `solution` are dropped; every other cell is kept as it is, with its outputs,
execution count and execution timings cleared; the notebook's saved widget state is
removed. The exercise check cells print "not answered yet" until the learner answers, so
the student edition runs top to bottom. Nothing else is copied: the notebooks need only
each other (they link by relative name) and the installed `asynclab` package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_TAG = "solution"


def is_solution(cell) -> bool:
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_notebook(nb):
    """The student copy of a notebook (a new object; `nb` is left untouched)."""
    nb = nbformat.from_dict(nb)  # a deep copy
    nb.cells = [cell for cell in nb.cells if not is_solution(cell)]
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def write_student_edition(out: Path, sources: list[Path] | None = None) -> list[Path]:
    """Write the student copy of each notebook into `out`; return the paths written.

    Notebooks already in `out` that are not among `sources` are removed (a renamed lesson
    leaves no stale copy); nothing else in `out` is touched.
    """
    sources = sorted(NOTEBOOKS.glob("*.ipynb")) if sources is None else sources
    if out.resolve() == NOTEBOOKS.resolve():
        raise ValueError("out must not be the notebooks/ folder itself")
    out.mkdir(parents=True, exist_ok=True)
    names = {source.name for source in sources}
    for stale in out.glob("*.ipynb"):
        if stale.name not in names:
            stale.unlink()
    written = []
    for source in sources:
        nb = student_notebook(nbformat.read(source, as_version=4))
        nbformat.validate(nb)
        target = out / source.name
        nbformat.write(nb, target)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "student",
                        help="folder to write into (default: student/)")
    args = parser.parse_args(argv)
    written = write_student_edition(args.out)
    print(f"student edition: {len(written)} notebooks in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
