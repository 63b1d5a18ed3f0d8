"""Grade a folder of submissions: read them all, run each in turn, write the reports.

Every file directly in the folder is a submission, except hidden files and the grader's
own ``grades.csv`` and ``grades.html``; sub-folders are not read. The class's lesson is
``lesson`` if given, else the lesson most readable submissions are (ties: the lower
number). A submission of another lesson is graded on its own lesson's exercises and its
``problem`` says so; one that cannot be read or is no lesson is marked ``missing`` on the
class's lesson's exercises, with the reason. One submission's failure never stops the
others: each becomes a row.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .lesson import Submission, exercises_by_lesson, read_submission
from .options import Limits, parse_lesson
from .report import ExerciseSummary, Row, columns, summarize, write_csv, write_html
from .run import run_submission
from .verdicts import Mark, marks_for

__all__ = ["OUTPUTS", "Grades", "grade_folder", "submissions_in"]

OUTPUTS = ("grades.csv", "grades.html")


@dataclass
class Grades:
    """What ``grade_folder`` wrote: the rows, the exercise columns, the summaries."""

    lesson: str | None
    rows: list[Row]
    checks: list[str]
    summaries: list[ExerciseSummary]
    csv_path: Path
    html_path: Path


def submissions_in(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.name not in OUTPUTS),
                  key=lambda p: p.name)


def _class_lesson(submissions: list[Submission]) -> str | None:
    votes = Counter(s.lesson for s in submissions if s.lesson is not None)
    if not votes:
        return None
    best = max(votes.values())
    return min(lesson for lesson, n in votes.items() if n == best)


def _row(submission: Submission, lessons: dict[str, list[str]], class_lesson: str | None,
         limits: Limits) -> Row:
    row = Row(submission.path.name, submission.lesson)
    if submission.nb is None or submission.lesson is None:
        row.problem = submission.problem
        for name in lessons.get(class_lesson or "", []):
            row.marks[name] = Mark("missing", submission.problem)
        return row
    result = run_submission(submission, limits)
    row.seconds = result.seconds
    row.marks = marks_for(lessons[submission.lesson], submission.calls, result.records,
                          result.cells)
    notes = []
    if class_lesson is not None and submission.lesson != class_lesson:
        notes.append(f"another lesson: {submission.lesson}, not the class's {class_lesson}; "
                     f"graded on lesson {submission.lesson}'s exercises")
    if result.problem:
        notes.append(result.problem)
    row.problem = "; ".join(notes)
    return row


def _replace(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file, so a report is never left half written."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def grade_folder(folder: Path | str, limits: Limits | None = None, lesson: object = None,
                 progress: Callable[[str], None] | None = None) -> Grades:
    """Grade every submission in ``folder``; write ``grades.csv`` and ``grades.html`` there.

    ``limits``: per cell, per notebook, memory (``Limits()`` by default). ``lesson``: the
    class's lesson ("04"), else the most common one. ``progress``: called with one line per
    submission. Bad arguments raise ``ValueError`` before anything runs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder must be an existing directory, got {str(folder)!r}")
    limits = Limits() if limits is None else limits
    if not isinstance(limits, Limits):
        raise ValueError(f"limits must be an asynclab.grade.Limits, got {type(limits).__name__}")
    lessons = exercises_by_lesson()
    class_lesson = parse_lesson(lesson, list(lessons))
    paths = submissions_in(folder)
    submissions = [read_submission(p, lessons) for p in paths]
    class_lesson = class_lesson or _class_lesson(submissions)
    rows = []
    for number, submission in enumerate(submissions, 1):
        t0 = time.monotonic()
        try:
            row = _row(submission, lessons, class_lesson, limits)
        except Exception as exc:  # a bug of the grader on one file must not lose the rest
            row = Row(submission.path.name, submission.lesson,
                      problem=f"the grader failed on this file: {type(exc).__name__}: {exc}")
        rows.append(row)
        if progress is not None:
            counts = Counter(m.status for m in row.marks.values())
            said = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no exercises"
            progress(f"[{number}/{len(submissions)}] {row.file}: lesson {row.lesson or '?'}, "
                     f"{said} ({time.monotonic() - t0:.1f} s)"
                     + (f"; {row.problem}" if row.problem else ""))
    checks = columns(rows) or list(lessons.get(class_lesson or "", []))
    summaries = summarize(rows, checks)
    title = f"Grades: {folder.resolve().name}" + (f", lesson {class_lesson}" if class_lesson else "")
    csv_path, html_path = folder / OUTPUTS[0], folder / OUTPUTS[1]
    _replace(csv_path, lambda p: write_csv(p, rows, checks))
    _replace(html_path, lambda p: write_html(p, rows, checks, summaries, title))
    return Grades(class_lesson, rows, checks, summaries, csv_path, html_path)
