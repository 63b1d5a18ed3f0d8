"""Run one submission: a temporary copy, a fresh kernel, every code cell bounded in time.

The learner's file is only read. Its copy goes into a temporary directory, which is the
kernel's working directory and is removed afterwards. A first injected cell installs
``probe`` (every exercise check records its verdict in a file there); then each code cell
of the notebook runs in order, each within ``cell_timeout`` and all within
``notebook_timeout``. A cell that raises does not stop the rest (as in Run All with errors
allowed); a cell that runs over time is interrupted and the run goes on if the kernel comes
back; a kernel that dies or does not come back ends the run, and ``problem`` says why.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .kernel import START_TIMEOUT, CellRun, GradingKernel, KernelStartError
from .lesson import Submission
from .options import Limits

__all__ = ["RunResult", "run_submission"]

_PROBE = ("import asynclab.grade.probe as _asynclab_grade_probe\n"
          "_asynclab_grade_probe.install({path!r})\n"
          "del _asynclab_grade_probe\n")


@dataclass
class RunResult:
    """What running one submission gave: the checks' records and each code cell's end."""

    records: list[dict] = field(default_factory=list)  # check calls, in the order made
    cells: dict[int, CellRun] = field(default_factory=dict)  # notebook cell index -> its run
    problem: str = ""  # why the run stopped early, or what went wrong on the way
    seconds: float = 0.0


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kernel killed while it wrote
        if isinstance(record, dict) and isinstance(record.get("check"), str):
            records.append(record)
    return records


def _died(kernel: GradingKernel, index: int) -> str:
    code = kernel.exit_code()
    how = ("" if code is None else f" (killed by signal {-code})" if code < 0
           else f" (exit code {code})")
    return f"the kernel died in cell {index}{how}; later cells did not run"


def _run_cells(submission: Submission, kernel: GradingKernel, limits: Limits,
               result: RunResult, deadline: float) -> None:
    notes = []
    for index, cell in enumerate(submission.nb.cells):
        if cell.get("cell_type") != "code" or not str(cell.get("source", "")).strip():
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            result.problem = (f"the notebook ran over {limits.notebook_timeout:g} s; stopped "
                              f"before cell {index}")
            return
        bound_by_notebook = left < limits.cell_timeout
        run = kernel.execute(str(cell.source), min(limits.cell_timeout, left))
        result.cells[index] = run
        if run.status == "dead":
            result.problem = _died(kernel, index)
            return
        if run.status in ("timeout", "stuck") and bound_by_notebook:
            result.problem = (f"the notebook ran over {limits.notebook_timeout:g} s; "
                              f"stopped in cell {index}")
            return
        if run.status == "stuck":
            result.problem = (f"cell {index} ran over {limits.cell_timeout:g} s and did not "
                              "stop when interrupted: kernel killed; later cells did not run")
            return
        if run.status == "timeout":
            notes.append(f"cell {index} ran over {limits.cell_timeout:g} s and was interrupted")
    result.problem = "; ".join(notes)


def run_submission(submission: Submission, limits: Limits) -> RunResult:
    """Execute ``submission`` (a readable notebook) in a fresh kernel under ``limits``."""
    result = RunResult()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="asynclab-grade-") as tmp:
        workdir = Path(tmp)
        shutil.copyfile(submission.path, workdir / submission.path.name)
        records = workdir / ".grade-records.jsonl"
        try:
            with GradingKernel(workdir, limits.memory_mb) as kernel:
                setup = kernel.execute(_PROBE.format(path=str(records)),
                                       max(limits.cell_timeout, START_TIMEOUT))
                if setup.status != "ok":
                    result.problem = f"the grader's first cell failed: {setup.status} {setup.error}"
                else:
                    _run_cells(submission, kernel, limits, result,
                               t0 + limits.notebook_timeout)
        except KernelStartError as exc:
            result.problem = str(exc)
        result.records = _records(records)
    result.seconds = time.monotonic() - t0
    return result
