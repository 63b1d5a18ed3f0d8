"""Honest times: each notebook states the time tools/lesson_time.py computes for it."""

from __future__ import annotations

import re
from pathlib import Path

import lesson_time
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_states_the_time_the_method_gives(path):
    nb = nbformat.read(path, as_version=4)
    parts = ", ".join(f"{k} {v:.1f}" for k, v in lesson_time.breakdown(nb).items())
    assert lesson_time.stated(nb) == lesson_time.estimate(nb), (
        f"{path.name} states {lesson_time.stated(nb)} minutes; the method gives "
        f"{lesson_time.estimate(nb)} ({parts}): fix its **Time:** line "
        f"(python tools/lesson_time.py)")


def test_the_estimate_grows_with_what_a_learner_does():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · T\n\n**Time:** about 5 minutes\n\n" + "word " * 1500)]
    base = lesson_time.estimate(nb)
    assert base == 10 and lesson_time.stated(nb) == 5  # 1500 words at 150 a minute
    nb.cells.append(nbformat.v4.new_code_cell("x = 1\n" * 300))  # 300 lines at 30 a minute
    assert lesson_time.estimate(nb) == 20
    hidden = nbformat.v4.new_code_cell("y = 2\n" * 300, metadata={"tags": ["lab-check"]})
    nb.cells.append(hidden)  # collapsed checks are not read
    assert lesson_time.estimate(nb) == 20
    for _ in range(5):
        nb.cells.append(nbformat.v4.new_code_cell("pass", metadata={"tags": ["solution"]}))
    assert lesson_time.estimate(nb) == 40  # 5 exercises at 4 minutes


def _minutes(text: str) -> int:
    """'9 h 10 min', '45 min', '3 h' -> minutes."""
    hours = re.search(r"(\d+)\s*h\b", text)
    mins = re.search(r"(\d+)\s*min", text)
    assert hours or mins, f"no time in {text!r}"
    return 60 * int(hours.group(1) if hours else 0) + int(mins.group(1) if mins else 0)


def test_the_instructor_guide_lists_the_times_the_notebooks_state():
    guide = (ROOT / "notebooks" / "INSTRUCTOR.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \[[^]]+\]\(([^)]+\.ipynb)\) \| ([^|]+) \| ([^|]+) \|$", guide, re.M)
    assert sorted(name for name, _, _ in rows) == [p.name for p in NOTEBOOKS]
    for name, time, exercises in rows:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert _minutes(time) == lesson_time.stated(nb), (
            f"INSTRUCTOR.md gives {name} {time.strip()}; the notebook states "
            f"{lesson_time.stated(nb)} minutes")
        assert _minutes(exercises) == round(lesson_time.breakdown(nb)["exercises"]), name
    total = re.search(r"^\| \*\*total\*\* \| \*\*([^*]+)\*\* \| \*\*([^*]+)\*\* \|$", guide, re.M)
    assert total, "INSTRUCTOR.md has no total row"
    assert _minutes(total.group(1)) == sum(_minutes(t) for _, t, _ in rows)
    assert _minutes(total.group(2)) == sum(_minutes(e) for _, _, e in rows)
    assert f"The notebooks take {total.group(1)} in all" in guide
