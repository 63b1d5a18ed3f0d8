"""Honest times: each notebook states the time tools/lesson_time.py computes for it."""

from __future__ import annotations

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
