"""The plain, read-only records that the instruments make and the plots draw.

``TimelineData`` is what one ``record()`` block saw, as numpy arrays in milliseconds from
the start of the recording. ``Timeline`` measures it and ``plotting`` draws it; neither
module needs the other to do so. Its arrays are read-only: a view, never a place to write.

``XRayData`` is what the loop held when each step began (``record(xray=True)``): the ready
queue and the sleeping timers, capped per step, as flat read-only arrays.

``Span`` is one stretch of time on one lane that the recorder does not see (an agent's
reported state, a job in another process, a task on a Dask worker), in the same unit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

__all__ = ["Span", "TimelineData", "XRayData"]

OUTCOMES = ("done", "failed", "cancelled", "running")


def _frozen(values, dtype) -> np.ndarray:
    arr = np.array(values, dtype=dtype).ravel()
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class XRayData:
    """Per recorded step (in step order), what the loop held just before the step ran.

    ``ready_code[ready_at[i]:ready_at[i + 1]]`` is step ``i``'s ready queue in FIFO order,
    its first entries only (``cap`` at most): a code ``c >= 0`` is the task of lane ``c``,
    ``c < 0`` the plain callback called ``callbacks[-c - 1]``. ``ready_len[i]`` is the queue's
    full length. ``sleep_*`` is the same for the timers, earliest first, with their wake-up
    times in ms (a timer that wakes several tasks gives one entry per task).
    """

    cap: int
    callbacks: tuple[str, ...]
    ready_at: np.ndarray  # n_steps + 1 offsets into ready_code
    ready_code: np.ndarray
    ready_len: np.ndarray
    sleep_at: np.ndarray  # n_steps + 1 offsets into sleep_code and sleep_ms
    sleep_code: np.ndarray
    sleep_ms: np.ndarray
    sleep_len: np.ndarray

    def __post_init__(self) -> None:
        for name in ("ready_at", "ready_code", "ready_len", "sleep_at", "sleep_code", "sleep_len"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.int64))
        object.__setattr__(self, "sleep_ms", _frozen(self.sleep_ms, float))
        object.__setattr__(self, "callbacks", tuple(str(c) for c in self.callbacks))
        object.__setattr__(self, "cap", int(self.cap))
        n = len(self.ready_len)
        if len(self.ready_at) != n + 1 or len(self.sleep_at) != n + 1 or len(self.sleep_len) != n:
            raise ValueError("ready_at and sleep_at need one offset per step plus one, "
                             "ready_len and sleep_len one entry per step")
        if self.ready_at[-1] != len(self.ready_code) or self.sleep_at[-1] != len(self.sleep_code) \
                or len(self.sleep_ms) != len(self.sleep_code):
            raise ValueError("the last offset must be the number of entries")

    @property
    def steps(self) -> int:
        return len(self.ready_len)


@dataclass(frozen=True, eq=False)
class TimelineData:
    """One recording, in ms from its start. Steps are in the order the loop ran them; jobs
    in the order they finished. ``*_lane`` and ``job_thread`` index ``task_names`` and
    ``threads``."""

    wall_ms: float
    task_names: tuple[str, ...]
    created_ms: np.ndarray  # per task: when it was created (0 if before the recording)
    outcomes: tuple[str, ...]  # per task: "done", "failed", "cancelled" or "running"
    step_start: np.ndarray  # per step
    step_end: np.ndarray
    step_lane: np.ndarray
    threads: tuple[str, ...]  # worker thread names, in order of their first job
    job_submit: np.ndarray  # per job: submitted, started, finished
    job_start: np.ndarray
    job_end: np.ndarray
    job_thread: np.ndarray
    xray: XRayData | None = None  # what the loop held at each step, if recorded with xray

    def __post_init__(self) -> None:
        floats = ("created_ms", "step_start", "step_end", "job_submit", "job_start", "job_end")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in floats:
                value = _frozen(value, float)
            elif f.name in ("step_lane", "job_thread"):
                value = _frozen(value, np.int64)
            elif f.name in ("task_names", "outcomes", "threads"):
                value = tuple(str(v) for v in value)
            elif f.name == "xray":
                if value is not None and not isinstance(value, XRayData):
                    raise TypeError(f"xray must be an XRayData or None, got {type(value).__name__}")
            else:
                value = float(value)
            object.__setattr__(self, f.name, value)
        n_tasks, n_steps, n_jobs = len(self.task_names), len(self.step_start), len(self.job_start)
        if len(self.created_ms) != n_tasks or len(self.outcomes) != n_tasks:
            raise ValueError("created_ms and outcomes need one entry per task name")
        if not set(self.outcomes) <= set(OUTCOMES):
            raise ValueError(f"outcomes must each be one of {', '.join(OUTCOMES)}")
        if len(self.step_end) != n_steps or len(self.step_lane) != n_steps:
            raise ValueError("step_start, step_end and step_lane need the same length")
        if n_steps and not 0 <= self.step_lane.min() <= self.step_lane.max() < n_tasks:
            raise ValueError("step_lane must index task_names")
        if not len(self.job_submit) == len(self.job_end) == len(self.job_thread) == n_jobs:
            raise ValueError("job_submit, job_start, job_end and job_thread need the same length")
        if n_jobs and not 0 <= self.job_thread.min() <= self.job_thread.max() < len(self.threads):
            raise ValueError("job_thread must index threads")
        if self.xray is not None:
            if self.xray.steps != n_steps:
                raise ValueError(f"xray holds {self.xray.steps} steps, the timeline {n_steps}")
            codes = np.concatenate([self.xray.ready_code, self.xray.sleep_code])
            if len(codes) and not (codes.max() < n_tasks and -codes.min() <= len(self.xray.callbacks)):
                raise ValueError("xray codes must index task_names (>= 0) or callbacks (< 0)")

    def task_ends(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per task: when its last step ended if it finished (else nan), how many steps it
        ran, and how long it ran on the loop in all."""
        n = len(self.task_names)
        last_end = np.full(n, -np.inf)
        np.maximum.at(last_end, self.step_lane, self.step_end)
        steps = np.bincount(self.step_lane, minlength=n)
        running = np.bincount(self.step_lane, weights=self.step_end - self.step_start, minlength=n)
        finished = np.array([o != "running" for o in self.outcomes], dtype=bool) & (steps > 0)
        return np.where(finished, last_end, np.nan), steps, running


class Span(NamedTuple):
    """One stretch of time on one lane, in ms from the zero of the figure it is drawn on:
    the start of a ``record()`` block (``StateLog`` is made inside it; ``stream_spans``
    takes its ``wall0``; ``JobTiming.span`` its ``t0_ns``), so that spans and recorded
    steps share one time axis."""

    lane: str  # who: an agent, a worker process or thread, a Dask worker
    start_ms: float
    end_ms: float
    kind: str = "job"  # what: a colour key of asynclab.palette ("job", an agent state...)
    key: str = ""  # which piece of work, when it has a name (a Dask task's key)

    @property
    def worker(self) -> str:
        """The lane, for spans of jobs: the worker that ran it."""
        return self.lane

    @property
    def agent(self) -> str:
        """The lane, for spans of a ``StateLog``: the agent."""
        return self.lane

    @property
    def state(self) -> str:
        """The kind, for spans of a ``StateLog``: what the agent waited for."""
        return self.kind
