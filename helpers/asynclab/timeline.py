"""``Timeline``: what a ``record()`` block saw, in milliseconds from its start.

Steps and jobs are held as numpy arrays (one row each); per-task and per-job views are
built on demand. ``plot`` draws it, ``summary`` measures it, ``to_perfetto`` exports it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .loopstate import PoolState, Sleeper, XRay, xray_of
from .records import TimelineData
from .validate import check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Timeline", "TimelineData", "TaskInfo", "JobInfo", "Summary", "XRay", "Sleeper",
           "PoolState"]


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
    """A recording of task steps on one event loop and of thread-pool jobs.

    ``record()`` yields an empty one and fills it when its block ends; ``Timeline.of(data)``
    makes one from a ``TimelineData`` directly. ``data`` is the read-only record itself.
    """

    def __init__(self) -> None:
        self._data: TimelineData | None = None

    @classmethod
    def of(cls, data: TimelineData) -> Timeline:
        """A timeline of ``data`` (for example one built by a benchmark or a test)."""
        tl = cls()
        tl.load(data)
        return tl

    def load(self, data: TimelineData) -> None:
        """Fill the timeline with ``data``, once (``record()`` does it when its block ends)."""
        if not isinstance(data, TimelineData):
            raise TypeError(f"data must be a TimelineData, got {type(data).__name__}")
        if self._data is not None:
            raise RuntimeError("this timeline is already filled: a timeline is filled once")
        self._data = data

    @property
    def data(self) -> TimelineData:
        """The recording as read-only arrays in ms (see ``asynclab.records.TimelineData``)."""
        if self._data is None:
            raise RuntimeError("the timeline is still being recorded: use it after the with block")
        return self._data

    @property
    def wall_ms(self) -> float:
        return self.data.wall_ms

    @property
    def task_names(self) -> list[str]:
        return list(self.data.task_names)

    @property
    def threads(self) -> list[str]:
        return list(self.data.threads)

    @property
    def step_start(self) -> np.ndarray:
        """ms, one row per step, in the order the steps ran (read-only)."""
        return self.data.step_start

    @property
    def step_end(self) -> np.ndarray:
        return self.data.step_end

    @property
    def step_lane(self) -> np.ndarray:
        """Index into ``task_names``, one row per step (read-only)."""
        return self.data.step_lane

    def __repr__(self) -> str:
        if self._data is None:
            return "<Timeline (recording)>"
        d = self._data
        return (
            f"<Timeline: {len(d.task_names)} tasks, {len(d.step_start)} steps, "
            f"{len(d.job_start)} pool jobs, {d.wall_ms:.1f} ms>"
        )

    # -- views -----------------------------------------------------------------------------
    @property
    def tasks(self) -> list[TaskInfo]:
        """One ``TaskInfo`` per recorded task, in the order they were first seen."""
        d = self.data
        done, steps, running = d.task_ends()
        alive = np.maximum(np.where(np.isnan(done), d.wall_ms, done) - d.created_ms, 0.0)
        waiting = np.maximum(alive - running, 0.0)
        return [
            TaskInfo(*row)
            for row in zip(d.task_names, d.created_ms.tolist(), done.tolist(), d.outcomes,
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
        d = self.data
        names = [d.task_names[i] for i in d.step_lane.tolist()]
        return names if include_main else [n for n in names if n != "main"]

    def steps(self, name: str) -> np.ndarray:
        """An (n, 2) array of (start, end) in ms of the steps of task ``name``."""
        d = self.data
        if name not in d.task_names:
            raise KeyError(f"no task named {name!r}; recorded: {', '.join(d.task_names)}")
        lanes = [i for i, n in enumerate(d.task_names) if n == name]
        mask = np.isin(d.step_lane, lanes)
        return np.column_stack([d.step_start[mask], d.step_end[mask]])

    # -- the x-ray (record(xray=True)) ----------------------------------------------------
    @property
    def has_xray(self) -> bool:
        """True if the timeline was recorded with ``record(xray=True)``."""
        return self.data.xray is not None

    def xray_at(self, i: int) -> XRay:
        """What the loop held just before step ``i`` ran: the running task, the ready queue
        in FIFO order, the timers earliest first, and each thread pool's running and queued
        jobs. ``i`` indexes the steps as ``order(include_main=True)`` lists them."""
        return xray_of(self.data, i)

    def ready_at(self, i: int) -> list[str]:
        """The names of the tasks in the ready queue, in FIFO order, just before step ``i``
        ran (the task of step ``i`` itself not counted; plain callbacks left out)."""
        return list(self.xray_at(i).ready)

    def sleepers_at(self, i: int) -> list[Sleeper]:
        """The timers just before step ``i`` ran, earliest first: ``Sleeper(name, wake_ms,
        task)``, ``name`` the task it will wake (or the callback's name)."""
        return list(self.xray_at(i).sleepers)

    def pool_at(self, i: int) -> list[PoolState]:
        """Each thread pool's running and queued jobs when step ``i`` began."""
        return list(self.xray_at(i).pools)

    @property
    def jobs(self) -> list[JobInfo]:
        """One ``JobInfo`` per thread-pool job, in the order they finished."""
        d = self.data
        return [
            JobInfo(d.threads[t], float(s), float(b), float(e))
            for s, b, e, t in zip(d.job_submit, d.job_start, d.job_end, d.job_thread.tolist(),
                                  strict=True)
        ]

    # -- measurements ------------------------------------------------------------------------
    def summary(self, *, ideal_s: float | None = None) -> Summary:
        """Wall time, busy time per lane, loop utilisation and, given the ideal wall time in
        seconds, the efficiency ``ideal / measured``."""
        d = self.data
        if ideal_s is not None:
            ideal_s = check_number("ideal_s", ideal_s, 0, 1e6, lo_open=True)
        dur = d.step_end - d.step_start
        busy: dict[str, float] = {}
        for info in self.tasks:
            busy[info.name] = busy.get(info.name, 0.0) + info.running_ms
        job_dur = d.job_end - d.job_start
        for t, name in enumerate(d.threads):
            busy[name] = float(job_dur[d.job_thread == t].sum())
        loop_busy = float(dur.sum())
        wall = d.wall_ms
        ideal_ms = None if ideal_s is None else ideal_s * 1e3
        return Summary(
            wall_ms=wall,
            loop_busy_ms=loop_busy,
            loop_utilisation=loop_busy / wall if wall > 0 else 0.0,
            longest_step_ms=float(dur.max()) if len(dur) else 0.0,
            tasks=len(d.task_names),
            steps=len(dur),
            jobs=len(job_dur),
            threads=len(d.threads),
            busy_ms=busy,
            ideal_ms=ideal_ms,
            efficiency=None if ideal_ms is None else ideal_ms / wall,
        )

    # -- output ----------------------------------------------------------------------------
    def plot(self, **kwargs: Any) -> Figure:
        """Draw the timeline; see ``asynclab.plotting.plot_timeline`` for the options."""
        from .plotting import plot_timeline

        return plot_timeline(self.data, **kwargs)

    def to_perfetto(self, path: str | os.PathLike[str]) -> str:
        """Write Chrome Trace Event JSON (opens in ui.perfetto.dev and chrome://tracing):
        one track per task and one per worker thread, one complete event per step or job,
        timestamps in microseconds. Returns the path written."""
        d = self.data
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
        events: list[dict[str, Any]] = [
            {"ph": "M", "pid": 1, "name": "process_name", "args": {"name": "event loop"}},
            {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "thread pools"}},
        ]
        for lane, name in enumerate(d.task_names):
            events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_name",
                           "args": {"name": name}})
            events.append({"ph": "M", "pid": 1, "tid": lane + 1, "name": "thread_sort_index",
                           "args": {"sort_index": lane}})
        for t, name in enumerate(d.threads):
            events.append({"ph": "M", "pid": 2, "tid": t + 1, "name": "thread_name",
                           "args": {"name": name}})
        for s, e, lane in zip(d.step_start.tolist(), d.step_end.tolist(),
                              d.step_lane.tolist(), strict=True):
            events.append({"ph": "X", "pid": 1, "tid": lane + 1, "name": d.task_names[lane],
                           "cat": "step", "ts": round(s * 1e3, 3), "dur": round((e - s) * 1e3, 3)})
        for sub, s, e, t in zip(d.job_submit.tolist(), d.job_start.tolist(),
                                d.job_end.tolist(), d.job_thread.tolist(), strict=True):
            events.append({"ph": "X", "pid": 2, "tid": t + 1, "name": "job", "cat": "job",
                           "ts": round(s * 1e3, 3), "dur": round((e - s) * 1e3, 3),
                           "args": {"queued_us": round((s - sub) * 1e3, 3)}})
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
        return os.fspath(path)
