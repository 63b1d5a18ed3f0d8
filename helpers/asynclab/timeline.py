"""``Timeline``: what a ``record()`` block saw, in milliseconds from its start.

Steps and jobs are held as numpy arrays (one row each); per-task and per-job views are
built on demand. ``plot`` draws it, ``summary`` measures it, ``to_perfetto`` exports it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .validate import check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .recorder import _Recording

__all__ = ["Timeline", "TaskInfo", "JobInfo", "Summary"]

_DEFAULT_NAME = re.compile(r"Task-\d+")


class TaskInfo(NamedTuple):
    """One recorded task. Times in ms from the start of the recording."""

    name: str
    created_ms: float  # when it was created (its first step if created before recording)
    done_ms: float  # end of its last step if it finished, else nan
    outcome: str  # "done", "failed", "cancelled" or "running" (not finished when recording ended)
    steps: int
    running_ms: float  # time spent running on the loop
    waiting_ms: float  # time alive but not running: suspended at an await, or ready and queued


class JobInfo(NamedTuple):
    """One thread-pool job. Times in ms from the start of the recording."""

    thread: str
    submitted_ms: float
    started_ms: float
    finished_ms: float


@dataclass(frozen=True)
class Summary:
    """Headline measurements of a timeline (all times in ms)."""

    wall_ms: float
    loop_busy_ms: float
    loop_utilisation: float  # fraction of the wall time the loop spent running task steps
    longest_step_ms: float
    tasks: int
    steps: int
    jobs: int
    threads: int
    busy_ms: dict[str, float] = field(repr=False)  # per lane: task or worker thread
    ideal_ms: float | None = None
    efficiency: float | None = None  # ideal / wall, when an ideal was given

    def __str__(self) -> str:
        lines = [
            f"wall time        {self.wall_ms:9.1f} ms",
            f"loop busy        {self.loop_busy_ms:9.1f} ms  ({self.loop_utilisation:.0%} of the wall time)",
            f"longest step     {self.longest_step_ms:9.1f} ms",
            f"recorded         {self.tasks} tasks, {self.steps} steps, "
            f"{self.jobs} pool jobs on {self.threads} threads",
        ]
        if self.ideal_ms is not None:
            lines.append(f"ideal            {self.ideal_ms:9.1f} ms  (efficiency {self.efficiency:.2f})")
        return "\n".join(lines)


class Timeline:
    """A recording of task steps on one event loop and of thread-pool jobs."""

    def __init__(self) -> None:
        self._ready = False  # filled in by ``_finalise`` when the record() block ends

    # -- filled by _finalise -------------------------------------------------------------
    wall_ms: float
    task_names: list[str]
    threads: list[str]
    step_start: np.ndarray  # ms, one row per step, in the order the steps ran
    step_end: np.ndarray
    step_lane: np.ndarray  # index into task_names
    _created: np.ndarray
    _outcomes: list[str]
    _job_submit: np.ndarray
    _job_start: np.ndarray
    _job_end: np.ndarray
    _job_thread: np.ndarray  # index into threads

    def _check_ready(self) -> None:
        if not self._ready:
            raise RuntimeError("the timeline is still being recorded: use it after the with block")

    def __repr__(self) -> str:
        if not self._ready:
            return "<Timeline (recording)>"
        return (
            f"<Timeline: {len(self.task_names)} tasks, {len(self.step_start)} steps, "
            f"{len(self._job_start)} pool jobs, {self.wall_ms:.1f} ms>"
        )

    # -- views -----------------------------------------------------------------------------
    def _task_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per task: done time (nan if unfinished), number of steps, running time."""
        n = len(self.task_names)
        last_end = np.full(n, -np.inf)
        np.maximum.at(last_end, self.step_lane, self.step_end)
        steps = np.bincount(self.step_lane, minlength=n)
        running = np.bincount(self.step_lane, weights=self.step_end - self.step_start, minlength=n)
        finished = np.array([o != "running" for o in self._outcomes], dtype=bool) & (steps > 0)
        return np.where(finished, last_end, np.nan), steps, running

    @property
    def tasks(self) -> list[TaskInfo]:
        """One ``TaskInfo`` per recorded task, in the order they were first seen."""
        self._check_ready()
        done, steps, running = self._task_arrays()
        alive = np.maximum(np.where(np.isnan(done), self.wall_ms, done) - self._created, 0.0)
        waiting = np.maximum(alive - running, 0.0)
        return [
            TaskInfo(*row)
            for row in zip(self.task_names, self._created.tolist(), done.tolist(), self._outcomes,
                           steps.tolist(), running.tolist(), waiting.tolist(), strict=True)
        ]

    def task(self, name: str) -> TaskInfo:
        """The ``TaskInfo`` of the task called ``name``."""
        for info in self.tasks:
            if info.name == name:
                return info
        raise KeyError(f"no task named {name!r}; recorded: {', '.join(self.task_names)}")

    def order(self, *, include_main: bool = False) -> list[str]:
        """Task names, one per step, in the order the loop ran them."""
        self._check_ready()
        names = [self.task_names[i] for i in self.step_lane.tolist()]
        return names if include_main else [n for n in names if n != "main"]

    def steps(self, name: str) -> np.ndarray:
        """An (n, 2) array of (start, end) in ms of the steps of task ``name``."""
        self._check_ready()
        if name not in self.task_names:
            raise KeyError(f"no task named {name!r}; recorded: {', '.join(self.task_names)}")
        lanes = [i for i, n in enumerate(self.task_names) if n == name]
        mask = np.isin(self.step_lane, lanes)
        return np.column_stack([self.step_start[mask], self.step_end[mask]])

    @property
    def jobs(self) -> list[JobInfo]:
        """One ``JobInfo`` per thread-pool job, in the order they finished."""
        self._check_ready()
        return [
            JobInfo(self.threads[t], float(s), float(b), float(e))
            for s, b, e, t in zip(
                self._job_submit, self._job_start, self._job_end, self._job_thread.tolist(),
                strict=True,
            )
        ]

    # -- measurements ------------------------------------------------------------------------
    def summary(self, *, ideal_s: float | None = None) -> Summary:
        """Wall time, busy time per lane, loop utilisation and, given the ideal wall time in
        seconds, the efficiency ``ideal / measured``."""
        self._check_ready()
        if ideal_s is not None:
            ideal_s = check_number("ideal_s", ideal_s, 0, 1e6, lo_open=True)
        dur = self.step_end - self.step_start
        busy: dict[str, float] = {}
        for info in self.tasks:
            busy[info.name] = busy.get(info.name, 0.0) + info.running_ms
        job_dur = self._job_end - self._job_start
        for t, name in enumerate(self.threads):
            busy[name] = float(job_dur[self._job_thread == t].sum())
        loop_busy = float(dur.sum())
        wall = self.wall_ms
        ideal_ms = None if ideal_s is None else ideal_s * 1e3
        return Summary(
            wall_ms=wall,
            loop_busy_ms=loop_busy,
            loop_utilisation=loop_busy / wall if wall > 0 else 0.0,
            longest_step_ms=float(dur.max()) if len(dur) else 0.0,
            tasks=len(self.task_names),
            steps=len(dur),
            jobs=len(job_dur),
            threads=len(self.threads),
            busy_ms=busy,
            ideal_ms=ideal_ms,
            efficiency=None if ideal_ms is None else ideal_ms / wall,
        )

    # -- output ----------------------------------------------------------------------------
    def plot(self, **kwargs: Any) -> Figure:
        """Draw the timeline; see ``asynclab.plotting.plot_timeline`` for the options."""
        from .plotting import plot_timeline

        return plot_timeline(self, **kwargs)

    def to_perfetto(self, path: str | os.PathLike[str]) -> str:
        """Write Chrome Trace Event JSON (opens in ui.perfetto.dev and chrome://tracing):
        one track per task and one per worker thread, one complete event per step or job,
        timestamps in microseconds. Returns the path written."""
        self._check_ready()
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
        events: list[dict[str, Any]] = [
            {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "event loop"}},
            {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "thread pools"}},
        ]
        for lane, name in enumerate(self.task_names):
            events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_name",
                           "args": {"name": name}})
            events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_sort_index",
                           "args": {"sort_index": lane}})
        for t, name in enumerate(self.threads):
            events.append({"ph": "M", "pid": 2, "tid": t + 1, "name": "thread_name",
                           "args": {"name": name}})
        for s, e, lane in zip(self.step_start.tolist(), self.step_end.tolist(),
                              self.step_lane.tolist(), strict=True):
            events.append({"ph": "X", "pid": 1, "tid": lane + 1, "name": self.task_names[lane],
                           "cat": "step", "ts": round(s * 1e3, 3), "dur": round((e - s) * 1e3, 3)})
        for sub, s, e, t in zip(self._job_submit.tolist(), self._job_start.tolist(),
                                self._job_end.tolist(), self._job_thread.tolist(), strict=True):
            events.append({"ph": "X", "pid": 2, "tid": t + 1, "name": "job", "cat": "job",
                           "ts": round(s * 1e3, 3), "dur": round((e - s) * 1e3, 3),
                           "args": {"queued_us": round((s - sub) * 1e3, 3)}})
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
        return os.fspath(path)


def _outcome(task: Any) -> str:
    # Read the private state so that a failed task's exception is not marked as retrieved
    # (which would silence asyncio's "Task exception was never retrieved" warning).
    state = getattr(task, "_state", "PENDING")
    if state == "CANCELLED":
        return "cancelled"
    if state == "FINISHED":
        return "failed" if getattr(task, "_exception", None) is not None else "done"
    return "running"


def _finalise(tl: Timeline, rec: _Recording) -> None:
    """Turn the raw record into the timeline's arrays (ms from the start)."""
    t0 = rec.t_start
    n = min(len(rec.starts), len(rec.ends), len(rec.lanes))
    starts = (np.frombuffer(rec.starts, dtype=np.int64)[:n] - t0) / 1e6
    ends = (np.frombuffer(rec.ends, dtype=np.int64)[:n] - t0) / 1e6
    lanes = np.frombuffer(rec.lanes, dtype=np.int32)[:n].copy()
    names = []
    for task in rec.tasks:
        name = task.get_name()
        if task is rec.main_task and _DEFAULT_NAME.fullmatch(name):
            name = "main"
        names.append(name)
    # A task created before the recording began (marked -1) is alive from its start.
    created_ms = np.maximum((np.array(rec.created, dtype=np.int64) - t0) / 1e6, 0.0)

    jobs = list(rec.jobs)
    thread_index: dict[Any, int] = {}
    threads: list[str] = []
    for job in sorted(jobs, key=lambda j: j[1]):
        if job[3] not in thread_index:
            thread_index[job[3]] = len(threads)
            threads.append(job[3].name)
    arr = np.array([j[:3] for j in jobs], dtype=np.int64).reshape(-1, 3)
    arr_ms = (arr - t0) / 1e6

    tl.wall_ms = (rec.t_end - t0) / 1e6
    tl.task_names = names
    tl.threads = threads
    tl.step_start, tl.step_end, tl.step_lane = starts, ends, lanes
    tl._created = created_ms
    tl._outcomes = [_outcome(t) for t in rec.tasks]
    tl._job_submit, tl._job_start, tl._job_end = arr_ms[:, 0], arr_ms[:, 1], arr_ms[:, 2]
    tl._job_thread = np.array([thread_index[j[3]] for j in jobs], dtype=np.int64)
    tl._ready = True
