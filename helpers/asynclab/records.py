"""The plain, read-only records that the instruments make and the plots draw.

``TimelineData`` is what one ``record()`` block saw, as numpy arrays in milliseconds from
the start of the recording. ``Timeline`` measures it and ``plotting`` draws it; neither
module needs the other to do so. Its arrays are read-only: a view, never a place to write.

``Span`` is one stretch of time on one lane that the recorder does not see (an agent's
reported state, a job in another process, a task on a Dask worker), in the same unit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

__all__ = ["Span", "TimelineData"]

OUTCOMES = ("done", "failed", "cancelled", "running")


def _frozen(values, dtype) -> np.ndarray:
    arr = np.array(values, dtype=dtype).ravel()
    arr.flags.writeable = False
    return arr


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
