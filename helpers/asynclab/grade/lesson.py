"""Which lesson a submission is, and which of its cells call which exercise checks.

Read from the content, never from the file name: the first ``# NN · Title`` heading (a
lesson is two digits and perhaps a letter: "04", "08b"), and else the lesson most of its
check calls belong to. The exercises of each lesson come from
``asynclab.check.__all__`` (``exNN_name``), so a lesson's columns are known even when a
submission is empty. Reading a file turns every way it can fail (empty, not JSON, JSON
that is not a notebook, too large) into a short ``problem``, never an exception.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .. import check

__all__ = ["MAX_BYTES", "Submission", "exercises_by_lesson", "lesson_of", "read_submission"]

MAX_BYTES = 50 * 1024 * 1024  # a learner's notebook with figures is a few MB
_CHECK = re.compile(r"^ex(\d\d[a-z]?)_\w+$")
_CALL = re.compile(r"\bex\d\d[a-z]?_\w+")
_TITLE = re.compile(r"^ {0,3}#[ \t]+(\d{1,2})([a-z]?)(?!\w)")


def exercises_by_lesson() -> dict[str, list[str]]:
    """{"00": ["ex00_bridge", "ex00_concurrent"], ..., "08b": ["ex08b_polite"], ...}: every
    check, by its lesson."""
    lessons: dict[str, list[str]] = {}
    for name in check.__all__:
        if match := _CHECK.match(name):
            lessons.setdefault(match.group(1), []).append(name)
    return {lesson: sorted(names) for lesson, names in sorted(lessons.items())}


@dataclass
class Submission:
    """One file of the folder: its notebook (or the problem that stops it being read)."""

    path: Path
    nb: Any = None
    problem: str = ""
    lesson: str | None = None
    #: code cell index -> the exercise checks its source names
    calls: dict[int, list[str]] = field(default_factory=dict)


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def lesson_of(nb: Any, lessons: dict[str, list[str]]) -> tuple[str | None, dict[int, list[str]]]:
    """(the lesson, {code cell index: checks it names}): the title's lesson if it is one of
    ``lessons``, else the lesson most of the named checks belong to, else None."""
    known = {name for names in lessons.values() for name in names}
    title = None
    calls: dict[int, list[str]] = {}
    for index, cell in enumerate(nb.cells):
        text = _source(cell)
        if cell.get("cell_type") == "markdown" and title is None:
            for line in text.splitlines():
                if match := _TITLE.match(line):
                    title = f"{int(match.group(1)):02d}{match.group(2)}"
                    break
        elif cell.get("cell_type") == "code":
            named = sorted({m.group(0) for m in _CALL.finditer(text)} & known)
            if named:
                calls[index] = named
    if title in lessons:
        return title, calls
    votes = Counter(_CHECK.match(name).group(1) for names in calls.values() for name in names)
    if votes:
        best = max(votes.values())
        return min(lesson for lesson, n in votes.items() if n == best), calls
    return None, calls


def _problem_reading(path: Path, raw: bytes) -> tuple[Any, str]:
    """(notebook, "") or (None, the problem)."""
    if not raw.strip():
        return None, "empty file"
    if len(raw) > MAX_BYTES:
        return None, f"file too large ({len(raw) / 2**20:.0f} MiB; at most {MAX_BYTES // 2**20} MiB)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not a notebook: not UTF-8 text (a binary file?)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if path.suffix.lower() != ".ipynb":
            return None, f"not a notebook: a {path.suffix or 'plain'} file that is not JSON"
        return None, f"invalid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        return None, "not a notebook: JSON without a list of notebook cells"
    try:
        nb = nbformat.reads(text, as_version=4)
    except nbformat.ValidationError as exc:
        said = " ".join(str(getattr(exc, "message", exc)).split())
        return None, f"not a valid notebook: {said[:120]}"
    except Exception as exc:  # nbformat raises several kinds on a malformed notebook
        return None, f"not a notebook: {type(exc).__name__}"
    for cell in nb.cells:
        if cell.get("cell_type") not in ("code", "markdown", "raw") or "source" not in cell:
            return None, "not a valid notebook: a cell without a type or a source"
    return nb, ""


def read_submission(path: Path, lessons: dict[str, list[str]]) -> Submission:
    """Read one file (never modified) into a ``Submission``; problems become text."""
    submission = Submission(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        submission.problem = f"cannot read the file: {exc.strerror or type(exc).__name__}"
        return submission
    submission.nb, submission.problem = _problem_reading(path, raw)
    if submission.nb is None:
        return submission
    submission.lesson, submission.calls = lesson_of(submission.nb, lessons)
    if submission.lesson is None:
        submission.problem = ("not a lesson notebook: no '# NN · Title' heading of a lesson "
                              "and no exercise check called")
    return submission
