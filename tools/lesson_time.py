"""How long a notebook takes a learner, by one stated method (CONTRIBUTING.md, "Honest times").

    python tools/lesson_time.py [notebooks/NN_name.ipynb ...]   (default: all)

The estimate adds up what a learner does, at rates calibrated on timed learners (three
notebooks that state 25-30 minutes took 40-50):

- reads the prose (markdown, fenced code included) at ``PROSE_WPM`` words a minute;
- reads each code cell they run at ``CODE_LINES_PER_MIN`` lines a minute, plus
  ``MIN_PER_CELL`` to run it and look at what it printed or drew; collapsed check cells
  (``lab-check``) and solutions are not read;
- plays with each widget panel for ``MIN_PER_PANEL``;
- works each exercise (one per ``solution`` cell) for ``MIN_PER_EXERCISE``.

The total is rounded to the nearest 5 minutes, which is what ``**Time:** about N minutes``
in the notebook must say (tests/test_lesson_time.py checks it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent

# Technical prose with inline code is read slower than plain text (about 200-250 wpm).
PROSE_WPM = 150
# Reading code closely enough to predict what it does.
CODE_LINES_PER_MIN = 30
# Running a cell and looking at its output or figure.
MIN_PER_CELL = 0.5
# Moving a few sliders and watching the figure change.
MIN_PER_PANEL = 3.0
# Reading the task, predicting or writing a few lines, running the check, reading the hint.
MIN_PER_EXERCISE = 4.0

STATED = re.compile(r"\*\*Time:\*\*\s*about\s+(\d+)\s*minutes")


def breakdown(nb) -> dict[str, float]:
    """Minutes per activity for one notebook (``nbformat`` node)."""
    words = code_lines = cells = panels = exercises = 0
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "markdown":
            words += len(re.findall(r"[\w'`.-]+", cell.source))
        elif cell.cell_type == "code":
            if "solution" in tags:
                exercises += 1
                continue
            if "lab-check" in tags:
                continue
            cells += 1
            code_lines += sum(1 for line in cell.source.splitlines() if line.strip())
            panels += "Panel(" in cell.source
    return {
        "prose": words / PROSE_WPM,
        "code": code_lines / CODE_LINES_PER_MIN + cells * MIN_PER_CELL,
        "panels": panels * MIN_PER_PANEL,
        "exercises": exercises * MIN_PER_EXERCISE,
    }


def estimate(nb) -> int:
    """The notebook's time in minutes, rounded to the nearest 5 (at least 5)."""
    return max(5, 5 * round(sum(breakdown(nb).values()) / 5))


def stated(nb) -> int | None:
    """The minutes the notebook states (``**Time:** about N minutes``), or None."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (m := STATED.search(cell.source)):
            return int(m.group(1))
    return None


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    paths = [Path(a) for a in argv] or sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
    missing = [p for p in paths if p.suffix != ".ipynb" or not p.is_file()]
    if missing:
        print(f"lesson_time: not a notebook file: {', '.join(map(str, missing))} "
              "(give paths to notebooks/NN_name.ipynb, or none for all)", file=sys.stderr)
        return 2
    wrong = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        parts = breakdown(nb)
        detail = ", ".join(f"{k} {v:.0f}" for k, v in parts.items())
        says, should = stated(nb), estimate(nb)
        mark = "" if says == should else f"   <- states {says}"
        wrong += says != should
        print(f"{path.name}: about {should} minutes ({detail}){mark}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
