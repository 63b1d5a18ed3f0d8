"""CPU-bound work for the concurrency-vs-parallelism lessons, and instruments to time it.

The work functions live in a module (not in a notebook cell) so that the worker processes
of a ``ProcessPoolExecutor`` can import them: a "spawn" worker starts a fresh interpreter
and finds a function by its module and name. ``timed_burn`` stamps its job with
``perf_counter_ns``, which on Linux, macOS and Windows reads one system-wide clock
(CLOCK_MONOTONIC on Linux), so a ``JobTiming`` measured in a worker process lines up with
one measured here; ``JobTiming.span(t0_ns)`` turns it into the ``Span`` the figures draw,
in ms from ``t0_ns``.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from .palette import COLORS, SERIES
from .plotting import (
    add_lanes,
    add_legend,
    draw_spans,
    hbars,
    key_handle,
    lane_figure,
    new_figure,
    styled,
)
from .records import Span
from .validate import check_callable, check_int, check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "JobTiming",
    "spin",
    "burn",
    "timed_burn",
    "usable_cores",
    "gil_enabled",
    "plot_worker_spans",
    "plot_speedups",
    "hold",
    "start_workers",
    "add_worker_lanes",
    "best_of",
]

#: Upper bound on one ``spin``: about a minute of pure-Python work on a laptop.
MAX_SPIN = 2_000_000_000


class JobTiming(NamedTuple):
    """What one job measured where it ran: which worker, when (``perf_counter_ns``, the
    same clock in every process of the machine) and the CPU time it used (ns)."""

    worker: str  # "process <pid>" or the thread's name
    start_ns: int
    end_ns: int
    cpu_ns: int

    def span(self, t0_ns: int) -> Span:
        """This job as a ``Span`` on its worker's lane, in ms from ``t0_ns``: the one place a
        job's ns stamps become a figure's ms."""
        return Span(self.worker, (self.start_ns - t0_ns) / 1e6, (self.end_ns - t0_ns) / 1e6, "job")


def spin(n: int) -> int:
    """Pure-Python busy work: ``n`` additions holding the GIL all the way. Returns the sum."""
    check_int("n", n, 0, MAX_SPIN)
    total = 0
    for i in range(n):
        total += i
    return total


def burn(ms: float) -> int:
    """Pure-Python busy work until this thread has used ``ms`` milliseconds of CPU time.

    Sized in CPU time, not iterations, so a job is the same amount of work however fast
    the machine is right now (other programs, clock boosts): a thread waiting for the GIL
    or for a core uses no CPU time, so it simply finishes later. Returns the iterations
    done. (Thread CPU clocks are precise on Linux and macOS, coarse on Windows.)
    """
    ms = check_number("ms", ms, 0, 60_000)
    clock = time.thread_time_ns
    end = clock() + round(ms * 1e6)
    done = 0
    while clock() < end:
        total = 0
        for i in range(2_000):  # about 50 us of pure Python between clock reads
            total += i
        done += 2_000
    return done


def timed_burn(ms: float) -> JobTiming:
    """Run ``burn(ms)`` and return its ``JobTiming``: which process or thread ran it, when,
    and the CPU time it used."""
    cpu0 = time.thread_time_ns()
    start = time.perf_counter_ns()
    burn(ms)
    end = time.perf_counter_ns()
    cpu = time.thread_time_ns() - cpu0
    if threading.current_thread() is threading.main_thread():
        worker = f"process {os.getpid()}"
    else:
        worker = threading.current_thread().name
    return JobTiming(worker, start, end, cpu)


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity), read from the machine."""
    if hasattr(os, "process_cpu_count"):  # 3.13+: honours affinity and -X cpu_count
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):  # Linux
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)


def gil_enabled() -> bool:
    """False only on a free-threaded build (3.13t+) running with the GIL off."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def _timings(name: str, spans) -> list[JobTiming]:
    spans = list(spans)
    if not all(isinstance(s, JobTiming) for s in spans):
        raise TypeError(f"{name} must be a list of JobTiming (as returned by timed_burn)")
    return spans


@styled
def plot_worker_spans(
    runs: dict[str, Iterable[JobTiming]], *, t0_ns: dict[str, int] | None = None,
    title: str | None = None, width: float = 9.0,
) -> Figure:
    """Draw each run's jobs, one lane per worker, runs stacked, one shared time axis (ms).

    ``runs`` maps a run's name ("threads", "processes") to its jobs' ``JobTiming``; each
    run's clock starts at its ``t0_ns`` (default: its first job's start).
    """
    if not isinstance(runs, dict) or not runs:
        raise TypeError("runs must be a non-empty dict of run name -> list of JobTiming")
    width = check_number("width", width, 3, 30)
    labels: list[str] = []
    spans: list[Span] = []
    rows: list[int] = []
    for name, jobs in runs.items():
        jobs = _timings(f"runs[{name!r}]", jobs)
        if not jobs:
            raise TypeError(f"runs[{name!r}] must be a non-empty list of JobTiming")
        start = (t0_ns or {}).get(name, min(j.start_ns for j in jobs))
        run = sorted((j.span(start) for j in jobs), key=lambda s: s.start_ms)
        workers = list(dict.fromkeys(s.lane for s in run))  # in the order they started
        rows += [len(labels) + workers.index(s.lane) for s in run]
        spans += run
        labels += [f"{name}: worker {k + 1}" for k in range(len(workers))]
    fig, ax = lane_figure(labels, max(s.end_ms for s in spans), width=width,
                          title=title or "Which worker ran which job, when",
                          xlabel="time since the run started (ms)")
    drawn = draw_spans(ax, rows, [s.start_ms for s in spans],
                       [s.end_ms for s in spans], "job", edges=True)
    add_legend(fig, [key_handle(k, "job running in a worker") for k in drawn])
    return fig


@styled
def plot_speedups(
    speedups: dict[str, float], ideals: dict[str, float], *, title: str | None = None,
    width: float = 7.0,
) -> Figure:
    """Bars of measured speedup per way of running, each with its ideal as a grey tick."""
    if not isinstance(speedups, dict) or not speedups:
        raise TypeError("speedups must be a non-empty dict of name -> measured speedup")
    if not isinstance(ideals, dict) or set(ideals) != set(speedups):
        raise ValueError(f"ideals must have the same keys as speedups: {sorted(speedups)}")
    width = check_number("width", width, 3, 30)
    names = list(speedups)
    values = [check_number(f"speedups[{n!r}]", speedups[n], 0, 1e6) for n in names]
    ideal = [check_number(f"ideals[{n!r}]", ideals[n], 0, 1e6) for n in names]
    fig, ax = new_figure(width, 1.2 + 0.45 * len(names), title=title or "Speedup against the ideal")
    ys = hbars(ax, names, {"measured speedup": values}, {"measured speedup": SERIES[0]},
               fmt="{:.2f}x", x_ref=max(ideal))["measured speedup"]
    ticks = ax.vlines(ideal, [y - 0.4 for y in ys], [y + 0.4 for y in ys], color=COLORS["ideal"],
                      linewidth=3, label="ideal")
    ax.axvline(1.0, color="black", linewidth=0.8)  # no speedup
    ax.set_xlabel("speedup over running the same work one job after another")
    add_legend(fig, [ax.containers[0], ticks])
    return fig


def hold(seconds: float) -> str:
    """Sleep ``seconds`` in a worker, then say which worker it was (used to start a pool)."""
    time.sleep(seconds)
    return f"process {os.getpid()}"


def start_workers(pool, workers: int, *, timeout: float = 30.0) -> float:
    """Make every one of ``workers`` processes of ``pool`` start now, before any timing.

    A ``ProcessPoolExecutor`` starts its processes lazily, and each one takes a while to
    boot (a fresh interpreter imports its modules). Short jobs are submitted until
    ``workers`` different processes have answered. Returns the seconds it took.
    """
    workers = check_int("workers", workers, 1, 1024)
    timeout = check_number("timeout", timeout, 0, 3600, lo_open=True)
    t0 = time.perf_counter()
    seen: set[str] = set()
    while len(seen) < workers:
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"only {len(seen)} of {workers} worker processes started within {timeout:g} s")
        seen.update(pool.map(hold, [0.02] * workers))
    return time.perf_counter() - t0


def add_worker_lanes(fig: Figure, spans: Iterable[JobTiming], t0_ns: int, *,
                     label: str = "process") -> Figure:
    """Add one lane per worker to a ``Timeline.plot`` figure, for jobs the recorder cannot
    see (jobs in other processes); ``t0_ns`` is the recording's start (``perf_counter_ns``)."""
    jobs = _timings("spans", spans)
    return add_lanes(fig, [j.span(t0_ns) for j in jobs], lane_label=label,
                     legend_label=f"job running in a worker {label}")


def best_of(trial, *, runs: int = 3, max_runs: int = 10, good_enough: float = math.inf,
            budget_s: float = 3.0):
    """Call ``trial()`` (which returns ``(score, ...)``) ``runs`` times and return the result
    with the best score. While the best is below ``good_enough``, try again, up to
    ``max_runs`` in all and while within ``budget_s`` seconds.

    Other programs on a shared machine can only slow a run down, so the best of several
    runs is the fairest measure of what a method can do (``timeit`` reports the best too).
    """
    check_callable("trial", trial)
    runs = check_int("runs", runs, 1, 100)
    max_runs = check_int("max_runs", max_runs, runs, 1000)
    budget_s = check_number("budget_s", budget_s, 0, 3600)
    t0 = time.perf_counter()
    best = None
    for i in range(max_runs):
        if i >= runs and (best[0] >= good_enough or time.perf_counter() - t0 > budget_s):
            break
        result = trial()
        if not isinstance(result, tuple) or not result:
            raise TypeError(f"trial must return a tuple (score, ...), got {type(result).__name__}")
        if best is None or result[0] > best[0]:
            best = result
    return best
