"""The class's grades: one row per submission, a summary per exercise, as CSV and HTML.

CSV columns: ``file``, ``lesson``, one per exercise check (``ex00_bridge``, ...: the
exercises of every lesson in the folder, a row's cells empty for other lessons'
exercises), ``problem`` (why a whole submission failed, or what else is wrong with it).
The summary of an exercise: how many of the submissions of its lesson passed, how each
other mark counts, and the most common hint (numbers masked as N, so one misconception
with different measured numbers counts once), shortened. The HTML page is one file with
its style inline (no CDN, no script), every learner-supplied text escaped.
"""

from __future__ import annotations

import csv
import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .verdicts import STATUSES, Mark

__all__ = ["HINT_CHARS", "ExerciseSummary", "Row", "columns", "csv_safe", "hint_key",
           "render_html", "shorten", "summarize", "write_csv", "write_html"]

HINT_CHARS = 100  # a hint is shortened to this many characters in the summary


@dataclass
class Row:
    """One submission: its file name, its lesson, one mark per exercise, the problem."""

    file: str
    lesson: str | None = None
    marks: dict[str, Mark] = field(default_factory=dict)
    problem: str = ""
    seconds: float = 0.0


@dataclass
class ExerciseSummary:
    check: str
    graded: int  # submissions of this exercise's lesson
    counts: dict[str, int]  # status -> how many
    top_hint: str = ""  # the most common hint, numbers masked, shortened
    top_hint_count: int = 0

    @property
    def passed(self) -> int:
        return self.counts.get("pass", 0)


def columns(rows: list[Row]) -> list[str]:
    """The exercise columns: every exercise any row is marked on, by lesson then name."""
    return sorted({name for row in rows for name in row.marks})


def shorten(text: str, limit: int = HINT_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def hint_key(message: str) -> str:
    """A hint without its "hint:" prefix and with its numbers masked, for counting."""
    message = re.sub(r"^\s*hint\s*:\s*", "", message, flags=re.IGNORECASE)
    return re.sub(r"\d+(?:[.,]\d+)*", "N", " ".join(message.split()))


def summarize(rows: list[Row], checks: list[str]) -> list[ExerciseSummary]:
    """Per exercise: counts of each mark among the rows marked on it, and the top hint."""
    summaries = []
    for name in checks:
        marks = [row.marks[name] for row in rows if name in row.marks]
        counts = Counter(mark.status for mark in marks)
        hints = Counter(hint_key(m.message) for m in marks if m.status == "hint")
        top, top_count = "", 0
        if hints:
            # most common first; among equals, the first in alphabetical order (stable)
            top, top_count = min(hints.items(), key=lambda kv: (-kv[1], kv[0]))
        summaries.append(ExerciseSummary(name, len(marks), {s: counts.get(s, 0) for s in STATUSES},
                                         shorten(top), top_count))
    return summaries


def csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (a learner names the files)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(path: Path, rows: list[Row], checks: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "lesson", *checks, "problem"])
        for row in rows:
            marks = [row.marks[c].status if c in row.marks else "" for c in checks]
            writer.writerow([csv_safe(row.file), row.lesson or "", *marks, csv_safe(row.problem)])


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.pass { background: #dff3e0; } td.hint { background: #fff1cc; }
td.not-answered { background: #eeeeee; } td.error { background: #f8d7d7; }
td.missing { background: #e8e0f3; }
small { display: block; color: #555; max-width: 28em; }
"""


def _cell(mark: Mark | None) -> str:
    if mark is None:
        return "<td></td>"
    css = mark.status.replace(" ", "-")
    detail = f"<small>{html.escape(shorten(mark.message, 160))}</small>" if mark.status != "pass" else ""
    return (f'<td class="{css}" title="{html.escape(mark.message, quote=True)}">'
            f"{html.escape(mark.status)}{detail}</td>")


def render_html(rows: list[Row], checks: list[str], summaries: list[ExerciseSummary],
                title: str = "Grades") -> str:
    """The whole page as text: summary first, then one row per submission."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{esc(title)}</h1>", "<h2>Summary per exercise</h2>",
             "<table><tr><th>exercise</th><th>passed</th>"
             + "".join(f"<th>{esc(s)}</th>" for s in STATUSES[1:])
             + "<th>most common hint</th></tr>"]
    for s in summaries:
        hint = f"{esc(s.top_hint)} <small>({s.top_hint_count} of {s.graded})</small>" if s.top_hint else ""
        parts.append(f"<tr><td>{esc(s.check)}</td><td>{s.passed} of {s.graded}</td>"
                     + "".join(f"<td>{s.counts[st]}</td>" for st in STATUSES[1:])
                     + f"<td>{hint}</td></tr>")
    parts.append("</table><h2>Submissions</h2><table><tr><th>file</th><th>lesson</th>"
                 + "".join(f"<th>{esc(c)}</th>" for c in checks) + "<th>problem</th></tr>")
    for row in rows:
        parts.append(f"<tr><td>{esc(row.file)}</td><td>{esc(row.lesson or '')}</td>"
                     + "".join(_cell(row.marks.get(c)) for c in checks)
                     + f"<td>{esc(row.problem)}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def write_html(path: Path, rows: list[Row], checks: list[str],
               summaries: list[ExerciseSummary], title: str = "Grades") -> None:
    path.write_text(render_html(rows, checks, summaries, title), encoding="utf-8")
