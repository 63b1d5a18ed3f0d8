"""How busy the machine is while an experiment runs, so a CPU lesson can tell "the lesson
is false" from "other programs took the cores". Used by notebooks 02, 06, 07, 08b and 10.

``other_programs()`` measures the cores other programs used during a block; ``best_rounds``
runs the same CPU jobs on several pools in turn and keeps each pool's best round (other
programs can only slow a run down), with the load measured in every round.

Instruments note the load they ran under, so that a lesson cell holds the experiment and
nothing else: ``asynclab.run`` notes each run under its coroutine's name,
``cluster.per_task_ms`` under ``"per_task_ms"``; a check cell asks ``during(label)``.
"""

from __future__ import annotations

import collections
import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor
from typing import Any, NamedTuple

from .validate import check_callable, check_int, check_number

__all__ = ["CpuRound", "OtherPrograms", "best_rounds", "cpu_round", "during", "noted", "other_programs"]


def _our_cpu_s(me: Any) -> float:
    """CPU seconds used so far by this process and every process it started, those that
    have exited too: once a process is waited for, the kernel adds its CPU time to its
    parent's children times, which count here for every process of the tree."""
    import psutil

    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def _machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all programs, all cores)."""
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, f, 0.0) for f in ("user", "system", "nice", "irq", "softirq"))


class OtherPrograms:
    """What ``other_programs()`` measured: ``cores``, the CPU other programs on the machine
    used during the block (their CPU seconds / wall seconds), and ``free``, the usable
    cores (``workloads.usable_cores()``) minus that."""

    cores: float = 0.0
    free: float = 0.0
    seconds: float = 0.0  # the wall time measured

    def __repr__(self) -> str:
        return f"OtherPrograms(cores={self.cores:.2f}, free={self.free:.2f})"


@contextlib.contextmanager
def other_programs() -> Iterator[OtherPrograms]:
    """Measure how many cores the machine's other programs (not this process, not the
    processes it started, running or exited and waited for) used while the ``with`` block
    ran: a busy shared machine can take away the cores an experiment needs, and a check
    can then say so."""
    import psutil

    from .workloads import usable_cores

    me, seen = psutil.Process(), OtherPrograms()
    busy0, ours0, t0 = _machine_busy_s(), _our_cpu_s(me), time.perf_counter()
    try:
        yield seen
    finally:
        wall = max(time.perf_counter() - t0, 1e-9)
        others = (_machine_busy_s() - busy0) - (_our_cpu_s(me) - ours0)
        seen.cores = max(0.0, others / wall)
        seen.free = usable_cores() - seen.cores
        seen.seconds = wall


# (label, the notebook cell that ran it or None, what was seen), newest last
_NOTES: collections.deque[tuple[str, int | None, OtherPrograms]] = collections.deque(maxlen=512)


def _cell() -> int | None:
    """The execution count of the notebook cell running now (None outside IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "execution_count", None)


@contextlib.contextmanager
def noted(label: str) -> Iterator[OtherPrograms]:
    """``other_programs()``, and, when the block completes, the measurement noted under
    ``label`` for ``during``."""
    if not isinstance(label, str) or not label:
        raise TypeError(f"label must be a non-empty string, got {label!r}")
    with other_programs() as seen:
        yield seen
    _NOTES.append((label, _cell(), seen))


def during(label: str) -> OtherPrograms:
    """The cores other programs used while instruments ran ``label`` (an ``asynclab.run``
    is noted under its coroutine's name, ``cluster.per_task_ms`` under "per_task_ms"),
    in the latest notebook cell that ran it: their CPU over all those runs' wall time.
    Outside a notebook: over every run noted under ``label``."""
    from .workloads import usable_cores

    if not isinstance(label, str) or not label:
        raise TypeError(f"label must be a non-empty string, got {label!r}")
    notes = [(cell, seen) for name, cell, seen in _NOTES if name == label]
    if not notes:
        known = sorted({name for name, _, _ in _NOTES})
        raise LookupError(f"nothing noted under {label!r} yet; run it first "
                          f"(noted so far: {', '.join(known) or 'nothing'})")
    last_cell = notes[-1][0]
    runs = [seen for cell, seen in notes if cell == last_cell]
    total = OtherPrograms()
    total.seconds = sum(r.seconds for r in runs)
    total.cores = sum(r.cores * r.seconds for r in runs) / max(total.seconds, 1e-9)
    total.free = usable_cores() - total.cores
    return total


class CpuRound(NamedTuple):
    """One pool's round of CPU jobs: ms of wall time per job, the cores its jobs used (their
    CPU time / wall time), the round's wall time in ms, and the cores other programs used
    meanwhile (the machine's busy time minus this process's and its children's)."""

    ms_per_task: float
    cores_used: float
    wall_ms: float
    others: float

    @property
    def used(self) -> float:
        """The cores the jobs used (``cores_used``)."""
        return self.cores_used


def cpu_round(pool: Executor, job: Callable[[float], Any], jobs_ms: list[float]) -> CpuRound:
    """``pool.map(job, jobs_ms)`` once, measured; ``job(ms)`` returns a timing with ``cpu_ns``
    (``workloads.timed_burn``, ``cluster.timed_job``)."""
    import psutil

    me = psutil.Process()
    busy0, ours0, t0 = _machine_busy_s(), _our_cpu_s(me), time.perf_counter()
    timings = list(pool.map(job, jobs_ms))
    wall = time.perf_counter() - t0
    others = (_machine_busy_s() - busy0) - (_our_cpu_s(me) - ours0)
    return CpuRound(wall * 1e3 / len(jobs_ms), sum(t.cpu_ns for t in timings) / 1e9 / wall,
                    wall * 1e3, max(0.0, others / wall))


def best_rounds(pools: Mapping[str, Executor], job: Callable[[float], Any],
                jobs_ms: Iterable[float], *, rounds: int,
                better: Callable[[CpuRound, CpuRound], bool],
                enough: Callable[[dict[str, CpuRound], int], bool]) -> dict[str, CpuRound]:
    """Run ``job`` over ``jobs_ms`` on each pool in turn, so all see the same machine load,
    keeping per pool the round ``better(new, kept)`` prefers; after round ``i`` (from 0),
    stop if ``enough(best, i)``, else after ``rounds``."""
    if not isinstance(pools, Mapping) or not pools:
        raise TypeError("pools must be a non-empty dict of name -> executor")
    check_callable("job", job)
    jobs_ms = [check_number("jobs_ms[]", ms, 0, 60_000) for ms in jobs_ms]
    if not jobs_ms:
        raise ValueError("jobs_ms must hold at least one job")
    rounds = check_int("rounds", rounds, 1, 50)
    best: dict[str, CpuRound] = {}
    for i in range(rounds):
        for name, pool in pools.items():
            result = cpu_round(pool, job, jobs_ms)
            if name not in best or better(result, best[name]):
                best[name] = result
        if enough(best, i):
            break
    return best
