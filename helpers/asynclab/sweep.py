"""Sweeps of a pool's worker count, measured against the ideal, with a progress bar.

For ``J`` equal jobs of latency ``L`` on ``N`` workers the ideal makespan is
``ceil(J / N) * L`` and the ideal throughput ``N / L`` (while ``N <= J``); efficiency is
``ideal / measured``. ``sweep`` calls a trial once per worker count and
collects ``SweepPoint`` rows; ``plot_sweep`` draws them with the ideal in the house grey.
The job functions here live in a module so that process-pool workers can import them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, NamedTuple

from .machine_load import CpuRound, best_rounds
from .palette import COLORS, SERIES
from .plotting import add_legend, new_figure, styled
from .validate import check_callable, check_int, check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SweepPoint",
    "ideal_makespan",
    "ideal_throughput",
    "efficiency",
    "progress",
    "sweep",
    "plot_sweep",
    "sleep_job",
    "payload_job",
    "CpuRound",
    "cpu_rounds",
    "pickling_cost",
    "request_cost",
]

MAX_WORKERS = 1024
MAX_JOBS = 100_000


def ideal_makespan(jobs: int, workers: int, latency_s: float) -> float:
    """``ceil(jobs / workers) * latency_s``: the shortest time ``workers`` can do the jobs."""
    jobs = check_int("jobs", jobs, 1, MAX_JOBS)
    workers = check_int("workers", workers, 1, MAX_WORKERS)
    latency_s = check_number("latency_s", latency_s, 0, 3600, lo_open=True)
    return math.ceil(jobs / workers) * latency_s


def ideal_throughput(workers: int, latency_s: float, jobs: int | None = None) -> float:
    """Jobs per second: ``workers / latency_s``, or ``jobs / ideal_makespan`` given ``jobs``
    (which caps it when there are fewer jobs than workers, or a last partial wave)."""
    workers = check_int("workers", workers, 1, MAX_WORKERS)
    latency_s = check_number("latency_s", latency_s, 0, 3600, lo_open=True)
    if jobs is None:
        return workers / latency_s
    return jobs / ideal_makespan(jobs, workers, latency_s)


def efficiency(ideal_s: float, measured_s: float) -> float:
    """``ideal_s / measured_s``: 1.0 is ideal, 0.5 means it took twice as long."""
    ideal_s = check_number("ideal_s", ideal_s, 0, 1e6, lo_open=True)
    measured_s = check_number("measured_s", measured_s, 0, 1e6, lo_open=True)
    return ideal_s / measured_s


class SweepPoint(NamedTuple):
    """One worker count of a sweep. Times in seconds, throughputs in jobs per second."""

    workers: int
    jobs: int
    makespan_s: float
    ideal_s: float
    throughput: float
    ideal_throughput: float
    efficiency: float
    extra: dict  # whatever else the trial measured (threads used, peak in flight...)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


@functools.cache
def _bar_class() -> type:
    from tqdm.auto import tqdm

    class Bar(tqdm):
        """``tqdm.auto`` without its monitor thread, which would outlive a disabled bar (a
        sweep's bar is updated at every step: it has nothing to monitor)."""

        monitor_interval = 0

    return Bar


@contextlib.contextmanager
def progress(total: int, description: str = "progress", *, show: bool | None = None) -> Iterator[Any]:
    """A ``tqdm.auto`` progress bar of ``total`` steps (a widget in a notebook, nothing in a
    script); call ``.update()`` after each step. ``show`` forces it on or off."""
    total = check_int("total", total, 0, 10**9)
    if not isinstance(description, str):
        raise TypeError(f"description must be a string, got {type(description).__name__}")
    if show is None:
        show = _in_kernel()
    bar = _bar_class()(total=total, desc=description, disable=not show)
    try:
        yield bar
    finally:
        bar.close()
        # tqdm.notebook leaves its widget a weak proxy to the bar (container.pbar), dead once
        # the bar is gone, and touching a dead proxy raises ReferenceError: drop it.
        container = getattr(bar, "container", None)
        if container is not None and getattr(container, "pbar", None) is not None:
            container.pbar = None


def sweep(
    trial: Callable[[int], Any],
    workers: Iterable[int],
    *,
    jobs: int,
    latency_s: float,
    show_progress: bool | None = None,
    description: str = "sweep",
    again_below: float | None = None,
    max_runs: int = 3,
    budget_s: float = 1.0,
) -> list[SweepPoint]:
    """Call ``trial(n)`` for each worker count ``n`` and measure it against the ideal.

    ``trial`` runs ``jobs`` jobs of about ``latency_s`` seconds each on ``n`` workers and
    returns the makespan in seconds, or a dict with ``"makespan_s"`` and anything else it
    measured (kept in ``SweepPoint.extra``). A progress bar shows in a notebook.

    On a shared machine other programs can only slow a run down: with ``again_below``, a
    size whose efficiency is below it runs again, up to ``max_runs`` runs in all and while
    within ``budget_s`` seconds for that size, and its fastest run counts
    (``extra["runs"]`` says how many it took).
    """
    check_callable("trial", trial)
    counts = list(workers) if not isinstance(workers, int | str) else None
    if not counts:
        raise TypeError("workers must be a non-empty list of worker counts, e.g. [1, 2, 4, 8]")
    counts = [check_int("workers[]", n, 1, MAX_WORKERS) for n in counts]
    jobs = check_int("jobs", jobs, 1, MAX_JOBS)
    latency_s = check_number("latency_s", latency_s, 0, 3600, lo_open=True)
    if again_below is not None:
        again_below = check_number("again_below", again_below, 0, 1, lo_open=True)
    max_runs = check_int("max_runs", max_runs, 1, 100)
    budget_s = check_number("budget_s", budget_s, 0, 3600)
    points: list[SweepPoint] = []
    with progress(len(counts), description, show=show_progress) as bar:
        for n in counts:
            ideal = ideal_makespan(jobs, n, latency_s)
            t0 = time.perf_counter()
            made, extra = _trial_result(trial(n))
            runs = 1
            while (again_below is not None and runs < max_runs and ideal / made < again_below
                   and time.perf_counter() - t0 <= budget_s):
                again, again_extra = _trial_result(trial(n))
                runs += 1
                if again < made:
                    made, extra = again, again_extra
            if again_below is not None:
                extra = {**extra, "runs": runs}
            points.append(SweepPoint(
                workers=n, jobs=jobs, makespan_s=made, ideal_s=ideal,
                throughput=jobs / made, ideal_throughput=jobs / ideal,
                efficiency=ideal / made, extra=extra,
            ))
            bar.update()
    return points


def _trial_result(out: Any) -> tuple[float, dict]:
    """A trial's makespan (seconds) and what else it measured."""
    if isinstance(out, dict):
        if "makespan_s" not in out:
            raise ValueError("a trial returning a dict must include 'makespan_s'")
        extra = {k: v for k, v in out.items() if k != "makespan_s"}
        made = out["makespan_s"]
    else:
        extra, made = {}, out
    return check_number("makespan_s (returned by trial)", made, 0, 1e6, lo_open=True), extra


@styled
def plot_sweep(points: list[SweepPoint], *, title: str | None = None, width: float = 9.0) -> Figure:
    """Throughput and makespan per worker count, measured against the ideal (grey), and the
    efficiency; log-2 worker axis."""
    if not isinstance(points, list) or not points or not all(isinstance(p, SweepPoint) for p in points):
        raise TypeError("points must be a non-empty list of SweepPoint (as returned by sweep)")
    width = check_number("width", width, 3, 30)
    fig, axes = new_figure(width, 3.4, ncols=3, suptitle=title or "Measured against the ideal")
    n = [p.workers for p in points]
    panels = (
        ("throughput (jobs/s)", [p.throughput for p in points], [p.ideal_throughput for p in points]),
        ("makespan (ms)", [p.makespan_s * 1e3 for p in points], [p.ideal_s * 1e3 for p in points]),
        ("efficiency = ideal / measured", [p.efficiency for p in points], [1.0] * len(points)),
    )
    for a, (label, measured, ideal) in zip(axes, panels, strict=True):
        a.plot(n, ideal, color=COLORS["ideal"], linestyle="--", linewidth=2, label="ideal")
        a.plot(n, measured, color=SERIES[0], marker="o", linewidth=2, label="measured")
        a.set_xscale("log", base=2)
        a.set_xticks(n, [str(k) for k in n], fontsize=8)
        a.minorticks_off()
        a.set_xlabel("workers")
        a.set_title(label, fontsize=10)
        a.grid(True, axis="both")
    axes[1].set_yscale("log")
    axes[2].set_ylim(0, 1.1)
    add_legend(fig, axes[0].get_legend_handles_labels()[0])
    return fig


def sleep_job(seconds: float) -> float:
    """A blocking wait of ``seconds`` (like a sync HTTP call); returns the seconds it took."""
    seconds = check_number("seconds", seconds, 0, 60)
    t0 = time.perf_counter()
    time.sleep(seconds)
    return time.perf_counter() - t0


def payload_job(payload: Any) -> int:
    """A job that only receives its argument: in a process pool, its cost is the pickling.
    Returns ``len(payload)`` (a small result, so only the argument is costly)."""
    return len(payload)


# -- CPU work on several pools, measured against the machine's load ------------------------

def cpu_rounds(pools: Mapping[str, Executor], jobs_ms: Iterable[float], *, goal: float,
               rounds: int = 6) -> dict[str, CpuRound]:
    """Run the CPU jobs ``jobs_ms`` (``workloads.timed_burn``, ``pool.map``) on each pool in
    turn, so all see the same machine load, and keep each pool's round that used the most
    cores: other programs can only slow a run down. At least two rounds; stops as soon as
    some pool reached ``goal`` cores, else after ``rounds``."""
    from .workloads import timed_burn

    goal = check_number("goal", goal, 0, 1024)
    rounds = check_int("rounds", rounds, 2, 50)
    return best_rounds(
        pools, timed_burn, jobs_ms, rounds=rounds,
        better=lambda new, kept: new.cores_used > kept.cores_used,
        enough=lambda best, i: i >= 1 and max(r.cores_used for r in best.values()) >= goal)


def pickling_cost(pool: Executor, payload: Any, *, calls: int = 5) -> float:
    """Seconds of one call of ``payload_job(payload)`` on ``pool``, one call at a time: the
    fastest of ``calls``. In a process pool, what sending that argument to a worker costs.

    The fastest, not the mean: a call that waited for a core other programs held (a worker
    woken late) measures the machine's load, not the argument's cost.
    """
    calls = check_int("calls", calls, 1, 1000)
    fastest = float("inf")
    for _ in range(calls):
        t0 = time.perf_counter()
        pool.submit(payload_job, payload).result()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest


def request_cost(url: str, *, calls: int = 5) -> float:
    """Seconds one ``requests.get(url)`` costs the caller, one call at a time: the fastest
    of ``calls``. With a server that answers at once (``?latency=0`` on the tool server),
    what a sync client spends per request: connecting, building it, sending, parsing.

    The fastest, not the mean: other programs on the machine can only slow a call down.
    """
    import requests

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"url must be an http:// or https:// address, got {url!r}")
    calls = check_int("calls", calls, 1, 1000)
    fastest = float("inf")
    for _ in range(calls):  # requests.get: a new connection each call, as in notebook 06
        t0 = time.perf_counter()
        requests.get(url, timeout=10).raise_for_status()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest
