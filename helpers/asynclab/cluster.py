"""Instruments for notebook 10: executors measured side by side, and a Dask cluster's
task stream as lanes beside an asynclab Timeline.

Dask's workers stamp each task with wall-clock time (``time.time()``, seconds since
1970); a ``Timeline`` counts milliseconds from its ``record()`` start on
``perf_counter``. ``stream_spans`` converts one into the other with an offset measured at
the start: take ``wall0 = time.time()`` as the recording starts and pass it in.

The measuring machinery the notebook's cells would otherwise carry lives here too:
``per_task_ms`` (one executor, one workload), ``best_cpu_rounds`` (CPU jobs on each
executor, best of a few rounds, with the cores they used and the cores other programs
used meanwhile), ``warm_up`` and ``local_executor`` (a LocalCluster's executor, started
and stopped in one ``with``), and ``marked_burn`` / ``wait_for_mark`` (a job that writes
down, on the worker, when it started and finished). Everything works without Dask
installed except ``local_executor``, so the module can be imported anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from .machine_load import CpuRound, OtherPrograms, best_rounds, noted, other_programs
from .palette import SERIES
from .plotting import add_lanes, add_legend, hbars, new_figure, styled
from .records import Span
from .validate import check_int, check_number
from .workloads import JobTiming, burn, start_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["QUIET", "CpuRound", "OtherPrograms", "other_programs", "add_stream_lanes", "best_cpu_rounds", "dask_ready",
           "local_executor", "marked_burn", "per_task_ms", "plot_costs", "stream_spans",
           "timed_job", "wait_for_mark", "warm_up"]

#: Every LocalCluster of notebook 10: on loopback, no dashboard, logs silenced, and the
#: scheduler's HTTP endpoints (health, metrics) on a free port rather than the default
#: 8787, which another cluster on this machine may hold (Dask would warn and move).
QUIET = {"host": "127.0.0.1", "dashboard_address": None, "silence_logs": logging.CRITICAL,
         "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}, "processes": True}


def dask_ready() -> bool:
    """True if Dask's ``distributed`` can be imported; then also keep its logging to errors,
    here and in the worker processes it starts: on a busy machine Dask reports slowness
    on stderr ("event loop was unresponsive"), which would change a notebook's output."""
    try:
        import dask
        import distributed  # noqa: F401
    except ImportError:
        return False
    dask.config.set({"distributed.logging.distributed": "error"})
    logging.getLogger("distributed").setLevel(logging.ERROR)
    return True


def stream_spans(records: Iterable[Mapping[str, Any]], *, wall0: float,
                 action: str = "compute") -> list[Span]:
    """Turn task-stream records (``get_task_stream(...).data`` or
    ``client.get_task_stream()``) into spans in ms since ``wall0`` (a ``time.time()``),
    keeping the ``action`` phases ("compute", "transfer", "deserialize"...): one ``Span``
    per task, on its worker's lane (``.worker``), named by the task's ``.key``."""
    wall0 = check_number("wall0", wall0, 0, 1e11)
    if not isinstance(action, str):
        raise TypeError(f"action must be a string such as 'compute', got {type(action).__name__}")
    spans = []
    for record in records:
        if not isinstance(record, Mapping) or "startstops" not in record:
            raise TypeError("records must be task-stream dicts with 'startstops' "
                            f"(from get_task_stream), got {record!r}")
        for phase in record["startstops"]:
            if phase.get("action") == action:
                spans.append(Span(str(record.get("worker", "?")), (phase["start"] - wall0) * 1e3,
                                  (phase["stop"] - wall0) * 1e3, "job", str(record.get("key", "?"))))
    return sorted(spans, key=lambda s: s.start_ms)


def add_stream_lanes(fig: Figure, spans: Iterable[Span], *, label: str = "Dask worker") -> Figure:
    """Add one lane per Dask worker to a ``Timeline.plot`` figure (same ms axis), each task's
    edges marked."""
    spans = list(spans)
    if not all(isinstance(s, Span) for s in spans):
        raise TypeError("spans must be a list of Span (as returned by stream_spans)")
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    return add_lanes(fig, spans, lane_label=label, edges=True,
                     legend_label=f"task running on a {label} (its task stream)")


@styled
def plot_costs(costs: Mapping[str, Mapping[str, float]], *, title: str | None = None,
               width: float = 9.0) -> Figure:
    """Grouped bars, log scale: ms per task for each workload (group) and executor (bar).
    An executor missing from a workload's mapping gets no bar there."""
    if not isinstance(costs, Mapping) or not costs:
        raise TypeError("costs must be a non-empty mapping of workload -> {executor: ms per task}")
    width = check_number("width", width, 3, 30)
    executors: list[str] = []
    for workload, row in costs.items():
        if not isinstance(row, Mapping) or not row:
            raise TypeError(f"costs[{workload!r}] must be a non-empty mapping of executor -> ms")
        for name, value in row.items():
            check_number(f"costs[{workload!r}][{name!r}]", value, 0, 1e7, lo_open=True)
            if name not in executors:
                executors.append(name)
    fig, ax = new_figure(width, 1.2 + 0.3 * len(costs) * len(executors),
                         title=title or "Cost per task, by executor")
    hbars(ax, list(costs), {name: [costs[w].get(name) for w in costs] for name in executors},
          {name: SERIES[k % len(SERIES)] for k, name in enumerate(executors)},
          fmt="{:.2f} ms", log=True)
    ax.set_xlabel("wall time per task (ms, log scale): lower is better")
    add_legend(fig, ax.get_legend_handles_labels()[0])
    return fig


def per_task_ms(executor: Executor, fn: Any, *iterables: Iterable[Any], rounds: int = 1) -> float:
    """Wall time per task (ms) of ``executor.map(fn, *iterables)``, all results received:
    the fastest of ``rounds`` rounds (other programs on the machine can only slow one down).
    The machine's load meanwhile is noted under "per_task_ms" (``machine_load.during``)."""
    items = [list(it) for it in iterables]
    rounds = check_int("rounds", rounds, 1, 50)
    if not items or not items[0]:
        raise ValueError("per_task_ms needs at least one task")
    best = float("inf")
    with noted("per_task_ms"):  # the machine's load meanwhile, for machine_load.during
        for _ in range(rounds):
            t0 = time.perf_counter()
            list(executor.map(fn, *items))
            best = min(best, (time.perf_counter() - t0) * 1e3 / len(items[0]))
    return best


def warm_up(pools: Mapping[str, Executor], workers: int) -> None:
    """Make each pool ready before any timing: a process pool's processes started (they
    start lazily), and a first round of calls on every pool (imports, connections)."""
    workers = check_int("workers", workers, 1, 1024)
    for pool in pools.values():
        if isinstance(pool, ProcessPoolExecutor):
            start_workers(pool, workers)
        list(pool.map(timed_job, [0] * workers))


def best_cpu_rounds(pools: Mapping[str, Executor], jobs_ms: Iterable[float], *,
                    parallel: float, threads: str = "threads", rounds: int = 5) -> dict[str, CpuRound]:
    """Run the CPU jobs ``jobs_ms`` (``timed_job``) on each pool in turn, and keep each
    pool's fastest round: other programs can only slow a run down. Stops early, after a
    round in which some pool other than ``threads`` beat the threads by at least half the
    ideal gain (``parallel`` cores: ``(1 + parallel) / 2`` times), else after ``rounds``."""
    parallel = check_number("parallel", parallel, 1, 1024)
    if not isinstance(pools, Mapping) or threads not in pools:
        raise ValueError(f"pools must include {threads!r}")

    def enough(best: dict[str, CpuRound], _: int) -> bool:
        others = [r.ms_per_task for n, r in best.items() if n != threads]
        return bool(others) and min(others) * (1 + parallel) / 2 <= best[threads].ms_per_task

    return best_rounds(pools, timed_job, jobs_ms, rounds=rounds, enough=enough,
                       better=lambda new, kept: new.ms_per_task < kept.ms_per_task)


@contextlib.contextmanager
def local_executor(workers: int) -> Iterator[Executor]:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes (``QUIET``) and
    its ``client.get_executor(pure=False)``, connected and warmed up; the cluster, its
    client and its processes are stopped when the ``with`` block ends."""
    from distributed import Client, LocalCluster

    workers = check_int("workers", workers, 1, 64)
    with LocalCluster(n_workers=workers, threads_per_worker=1, **QUIET) as cluster, \
            Client(cluster) as client:
        pool = client.get_executor(pure=False)
        warm_up({"cluster": pool}, workers)
        yield pool


def marked_burn(ms: float, path: str) -> float:
    """``burn(ms)``, writing to the file ``path``, in the process that runs it, a line
    ``started <time.time()>`` before and ``finished <time.time()> <CPU ms used>`` after:
    what a worker did, recorded by the worker itself. Returns the CPU ms used."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"started {time.time()!r}\n")
    cpu0 = time.thread_time_ns()
    burn(ms)
    cpu_ms = (time.thread_time_ns() - cpu0) / 1e6
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"finished {time.time()!r} {cpu_ms!r}\n")
    return cpu_ms


def _marks(path: str) -> dict[str, list[float]]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return {}
    return {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines if line.strip()}


async def wait_for_mark(path: str, mark: str, *, timeout: float = 30.0) -> list[float]:
    """Wait (polling every 5 ms) until ``marked_burn`` has written ``mark`` ("started" or
    "finished") to ``path``; return its numbers: ``[time]`` or ``[time, CPU ms]``."""
    if mark not in ("started", "finished"):
        raise ValueError(f"mark must be 'started' or 'finished', got {mark!r}")
    timeout = check_number("timeout", timeout, 0, 3600, lo_open=True)
    async with asyncio.timeout(timeout):
        while mark not in (found := _marks(path)):
            await asyncio.sleep(0.005)
    return found[mark]


def timed_job(ms: float, payload: Any = b"") -> JobTiming:
    """Receive ``payload``, burn ``ms`` of CPU and return its ``JobTiming``, naming the
    process and thread that ran it (importable by thread, process and Dask workers alike)."""
    del payload  # only received: its cost is the copy to the worker
    start = time.perf_counter_ns()
    cpu0 = time.thread_time_ns()
    burn(ms)
    cpu = time.thread_time_ns() - cpu0
    worker = f"{os.getpid()}/{threading.current_thread().name}"
    return JobTiming(worker, start, time.perf_counter_ns(), cpu)
