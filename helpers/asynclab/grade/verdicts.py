"""From what ran to one mark per exercise: pass, hint, not answered, error or missing.

- The **last** recorded call of a check decides (a learner may check, fix, check again;
  in the instructor's edition the solution cell's call follows the empty check's call).
  A verdict that passed is ``pass``; else a message starting "not answered" is
  ``not answered``, and anything else is a ``hint``. A check that itself raised (it was
  interrupted, for example) is ``error``.
- No recorded call: ``error`` if a cell naming the check raised, ran over time, or never
  ran because the kernel died or was stopped (the learner's code broke it); else
  ``missing`` (no cell names it: the learner deleted or commented out the check).
"""

from __future__ import annotations

from dataclasses import dataclass

from .kernel import CellRun

__all__ = ["STATUSES", "Mark", "mark_of_record", "marks_for"]

STATUSES = ("pass", "hint", "not answered", "error", "missing")


@dataclass(frozen=True)
class Mark:
    """One exercise's result for one submission, with the message behind it."""

    status: str
    message: str = ""


def mark_of_record(record: dict) -> Mark:
    """The mark of one recorded check call (see ``probe``)."""
    if "raised" in record:
        return Mark("error", f"the check raised {record['raised']}")
    message = str(record.get("message", ""))
    if record.get("passed") is True:
        return Mark("pass", message)
    if message.lstrip().lower().startswith("not answered"):
        return Mark("not answered", message)
    return Mark("hint", message)


def _broken(index: int, run: CellRun | None) -> str:
    if run is None:
        return f"cell {index} did not run (the run stopped before it)"
    if run.status == "error":
        return f"cell {index} raised {run.error}"
    if run.status in ("timeout", "stuck"):
        return f"cell {index} ran over time"
    if run.status == "dead":
        return f"cell {index} killed its kernel"
    return ""


def marks_for(checks: list[str], calls: dict[int, list[str]], records: list[dict],
              cells: dict[int, CellRun]) -> dict[str, Mark]:
    """One mark per check of the lesson.

    ``calls``: code cell index -> checks its source names; ``records``: the recorded calls
    in order; ``cells``: how each code cell that ran ended."""
    last = {record["check"]: record for record in records}
    marks = {}
    for name in checks:
        if name in last:
            marks[name] = mark_of_record(last[name])
            continue
        naming = [index for index, names in sorted(calls.items()) if name in names]
        broken = [why for index in naming if (why := _broken(index, cells.get(index)))]
        if broken:
            marks[name] = Mark("error", broken[0])
        elif naming:
            marks[name] = Mark("missing", "the check cell ran but never called the check")
        else:
            marks[name] = Mark("missing", "no cell calls this check")
    return marks
