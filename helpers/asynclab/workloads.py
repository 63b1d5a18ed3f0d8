"""CPU-bound work for the concurrency-vs-parallelism lessons, and instruments to time it.

The work functions live in a module (not in a notebook cell) so that the worker processes
of a ``ProcessPoolExecutor`` can import them: a "spawn" worker starts a fresh interpreter
and finds a function by its module and name. Timestamps are ``perf_counter_ns``, which on
Linux, macOS and Windows reads one system-wide clock, so spans measured in a worker process
line up with spans measured here.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from .validate import check_callable, check_int, check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Span",
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


class Span(NamedTuple):
    """One job: where it ran, when (``perf_counter_ns``), and the CPU time it used (ns)."""

    worker: str  # "process <pid>" or the thread's name
    start_ns: int
    end_ns: int
    cpu_ns: int


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


def timed_burn(ms: float) -> Span:
    """Run ``burn(ms)`` and return a ``Span``: which process or thread ran it, and when."""
    cpu0 = time.thread_time_ns()
    start = time.perf_counter_ns()
    burn(ms)
    end = time.perf_counter_ns()
    cpu = time.thread_time_ns() - cpu0
    if threading.current_thread() is threading.main_thread():
        worker = f"process {os.getpid()}"
    else:
        worker = threading.current_thread().name
    return Span(worker, start, end, cpu)


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


def plot_worker_spans(
    runs: dict[str, Iterable[Span]], *, t0_ns: dict[str, int] | None = None,
    title: str | None = None, width: float = 9.0,
) -> Figure:
    """Draw each run's spans, one lane per worker, runs stacked, one shared time axis (ms).

    ``runs`` maps a run's name ("threads", "processes") to its spans; each run's clock
    starts at its ``t0_ns`` (default: its first span's start).
    """
    from .plotting import COLORS, new_figure, span_patch

    if not isinstance(runs, dict) or not runs:
        raise TypeError("runs must be a non-empty dict of run name -> list of Span")
    width = check_number("width", width, 3, 30)
    rows: list[tuple[str, list[Span], int]] = []  # (label, spans, t0)
    for name, spans in runs.items():
        spans = list(spans)
        if not spans or not all(isinstance(s, Span) for s in spans):
            raise TypeError(f"runs[{name!r}] must be a non-empty list of Span")
        start = (t0_ns or {}).get(name, min(s.start_ns for s in spans))
        workers = sorted({s.worker for s in spans}, key=lambda w: min(s.start_ns for s in spans if s.worker == w))
        for k, w in enumerate(workers):
            rows.append((f"{name}: worker {k + 1}", [s for s in spans if s.worker == w], start))
    fig, ax = new_figure(width, min(12.0, 1.3 + 0.32 * len(rows)))
    x_max = 0.0
    for row, (_label, spans, start) in enumerate(rows):
        x0 = [(s.start_ns - start) / 1e6 for s in spans]
        x1 = [(s.end_ns - start) / 1e6 for s in spans]
        x_max = max(x_max, *x1)
        ax.add_artist(span_patch(x0, x1, row - 0.35, row + 0.35, COLORS["job"]))
        for a, b in zip(x0, x1, strict=True):  # a thin white gap shows where one job ends
            ax.plot([a, a], [row - 0.35, row + 0.35], color="white", lw=1)
            ax.plot([b, b], [row - 0.35, row + 0.35], color="white", lw=1)
    ax.set_xlim(0, max(x_max, 1e-3) * 1.02)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=9)
    ax.set_xlabel("time since the run started (ms)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title or "Which worker ran which job, when", loc="left", fontsize=11)
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=COLORS["job"], label="job running in a worker")],
               loc="outside lower center", fontsize=8, frameon=False)
    return fig


def plot_speedups(
    speedups: dict[str, float], ideals: dict[str, float], *, title: str | None = None,
    width: float = 7.0,
) -> Figure:
    """Bars of measured speedup per way of running, each with its ideal as a grey tick."""
    from .plotting import COLORS, new_figure

    if not isinstance(speedups, dict) or not speedups:
        raise TypeError("speedups must be a non-empty dict of name -> measured speedup")
    if not isinstance(ideals, dict) or set(ideals) != set(speedups):
        raise ValueError(f"ideals must have the same keys as speedups: {sorted(speedups)}")
    width = check_number("width", width, 3, 30)
    names = list(speedups)
    values = [check_number(f"speedups[{n!r}]", speedups[n], 0, 1e6) for n in names]
    ideal = [check_number(f"ideals[{n!r}]", ideals[n], 0, 1e6) for n in names]
    fig, ax = new_figure(width, 1.2 + 0.45 * len(names))
    y = range(len(names))
    ax.barh(y, values, height=0.6, color=COLORS["running"], label="measured speedup")
    ax.vlines(ideal, [i - 0.4 for i in y], [i + 0.4 for i in y], color=COLORS["ideal"],
              linewidth=3, label="ideal")
    for i, v in zip(y, values, strict=True):
        ax.text(v, i, f" {v:.2f}x", va="center", fontsize=9)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(y), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, max(max(values), max(ideal)) * 1.2)
    ax.set_xlabel("speedup over running the same work one job after another")
    ax.set_title(title or "Speedup against the ideal", loc="left", fontsize=11)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
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


def add_worker_lanes(fig: Figure, spans: Iterable[Span], t0_ns: int, *, label: str = "process") -> Figure:
    """Add one lane per worker to a ``Timeline.plot`` figure, for jobs the recorder cannot
    see (jobs in other processes); ``t0_ns`` is the recording's start (``perf_counter_ns``)."""
    from .plotting import add_lanes

    spans = list(spans)
    if not all(isinstance(s, Span) for s in spans):
        raise TypeError("spans must be a list of Span (as returned by timed_burn)")
    spans.sort(key=lambda s: s.start_ns)  # lanes numbered in the order workers started
    return add_lanes(fig, [s.worker for s in spans], [(s.start_ns - t0_ns) / 1e6 for s in spans],
                     [(s.end_ns - t0_ns) / 1e6 for s in spans], lane_label=label,
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
