"""The x-ray of ``record(xray=True)``: what the event loop held when each step began.

``LoopSnapshots`` is filled by the recorder once per recorded step, just before the step
runs, from the loop's own structures: its ready queue (``loop._ready``, a deque run first in,
first out) and its timers (``loop._scheduled``, a heap). Each ready handle is named by the
task it steps or wakes (``callback.__self__``), or by its callback's short name. Each timer
is mapped to the tasks it will wake: ``asyncio.sleep`` schedules
``_set_result_unless_cancelled(future)``, and the future's done-callbacks hold the waiting
task's ``__wakeup`` (the same on 3.11-3.13, C and Python tasks). Only what the experiment
scheduled shows (handles whose context carries the recording, as for the steps): the
kernel's callbacks and the runner's own time limit are left out, and not counted in the
lengths (exactly so when the queue is no longer than ``cap``: beyond it, not looked at). Memory is bounded: at most ``cap`` entries of each per step (the head of the
queue, the earliest timers), plus the full lengths.

``xray_of(data, i)`` reads step ``i`` back as an ``XRay``; the thread pools' running and
queued jobs at that moment come from the jobs' own submit, start and end times.
"""

from __future__ import annotations

import asyncio
import functools
from array import array
from heapq import heappop, heappush
from itertools import islice
from time import perf_counter_ns
from typing import Any, NamedTuple

import numpy as np

from .records import TimelineData, XRayData

__all__ = ["CAP", "LoopSnapshots", "PoolState", "QueueEntry", "Sleeper", "XRay", "xray_of"]

CAP = 16  # entries of the ready queue, and of the timers, kept per step


class QueueEntry(NamedTuple):
    """One handle in the ready queue: a task's step (``task`` True) or a plain callback."""

    name: str
    task: bool


class Sleeper(NamedTuple):
    """A timer: the task it will wake (or a plain callback's name), and when, in ms."""

    name: str
    wake_ms: float
    task: bool


class PoolState(NamedTuple):
    """A thread pool (named by its threads' prefix) at one moment: jobs running, queued."""

    pool: str
    running: int
    queued: int


class XRay(NamedTuple):
    """What the loop held just before recorded step ``step`` ran (times in ms)."""

    step: int
    at_ms: float  # when the step began
    running: str  # the task of this step
    queue: tuple[QueueEntry, ...]  # the ready queue in FIFO order (its first ``cap`` entries)
    queue_len: int  # the ready queue's full length (the experiment's handles)
    sleepers: tuple[Sleeper, ...]  # timers, earliest first (the first ``cap``)
    sleepers_len: int  # the experiment's timers in all
    pools: tuple[PoolState, ...]  # each thread pool seen in the recording

    @property
    def ready(self) -> tuple[str, ...]:
        """The names of the tasks in the ready queue, in FIFO order."""
        return tuple(e.name for e in self.queue if e.task)


def short_name(callback: Any) -> str:
    """A callback's short name: ``Future.set_result``, ``wake``, ``partial(fetch)``."""
    if isinstance(callback, functools.partial):
        return f"partial({short_name(callback.func)})"
    name = getattr(callback, "__qualname__", None) or type(callback).__name__
    return name.rpartition("<locals>.")[2]


class LoopSnapshots:
    """Flat per-step buffers of the ready queue and the timers (see the module docstring).

    A handle is the experiment's if its context maps ``var`` to ``recording``;
    ``lane_of`` is the recorder's ``id(task) -> lane``, and ``lane(owner, context)`` its
    slower look-up that also adopts a recorded task not seen yet (else None).
    """

    def __init__(self, var: Any, recording: Any, lane_of: dict[int, int], lane: Any,
                 task_types: tuple[type, ...], cap: int = CAP) -> None:
        self.var, self.recording, self.lane_of, self.lane = var, recording, lane_of, lane
        self.task_types, self.cap = task_types, cap
        self.names: dict[str, int] = {}
        self.ready_at, self.ready_code, self.ready_len = array("q", [0]), array("i"), array("i")
        self.sleep_at, self.sleep_code, self.sleep_len = array("q", [0]), array("i"), array("i")
        self.sleep_ns = array("q")
        self.clock_loop: Any = None
        self.offset_ns = 0  # perf_counter_ns() - loop.time() in ns, for the timers' times

    def _code(self, name: str) -> int:
        index = self.names.setdefault(name, len(self.names))
        return -index - 1

    def _owner_code(self, owner: Any, context: Any, callback: Any) -> int:
        lane = self.lane(owner, context)
        if lane is not None:
            return lane
        if isinstance(owner, self.task_types):
            return self._code(f"{owner.get_name()} (not recorded)")
        return self._code(short_name(callback))

    def take(self, loop: Any) -> None:
        """Note the loop's ready queue and earliest timers (called before each step)."""
        codes, var, me, lane_of = self.ready_code, self.var, self.recording, self.lane_of
        skipped = 0
        for handle in islice(loop._ready, self.cap):
            context = handle._context
            if handle._cancelled or context.get(var) is not me:
                skipped += 1
                continue
            cb = handle._callback
            owner = getattr(cb, "__self__", None)
            lane = lane_of.get(id(owner))  # the common case, inline: a recorded task
            codes.append(self._owner_code(owner, context, cb) if lane is None else lane)
        self.ready_at.append(len(codes))
        self.ready_len.append(len(loop._ready) - skipped)
        self._timers(loop)

    def _timers(self, loop: Any) -> None:
        if loop is not self.clock_loop:
            self.clock_loop = loop
            self.offset_ns = perf_counter_ns() - round(loop.time() * 1e9)
        heap = loop._scheduled
        codes, times, offset = self.sleep_code, self.sleep_ns, self.offset_ns
        start, skipped = len(codes), 0
        # The k earliest timers of a heap, without sorting it: best-first from the root.
        frontier = [(heap[0]._when, 0)] if heap else []
        while frontier and len(codes) - start < self.cap:
            when, i = heappop(frontier)
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(heap):
                    heappush(frontier, (heap[child]._when, child))
            timer = heap[i]
            if timer._cancelled or timer._context.get(self.var) is not self.recording:
                skipped += 1
                continue
            wake_ns = round(when * 1e9) + offset
            for code in self._timer_codes(timer):
                codes.append(code)
                times.append(wake_ns)
        del codes[start + self.cap:], times[start + self.cap:]
        self.sleep_at.append(len(codes))
        self.sleep_len.append(len(heap) - skipped)

    def _timer_codes(self, timer: Any) -> list[int]:
        cb, args = timer._callback, timer._args
        if args and isinstance(args[0], asyncio.Future):  # sleep(), call_later(d, fut...)
            found = []
            for wake, context in args[0]._callbacks or ():
                owner = getattr(wake, "__self__", None)
                if isinstance(owner, self.task_types):
                    found.append(self._owner_code(owner, context, wake))
            if found:
                return found
        return [self._code(short_name(cb))]

    def data(self, steps: int, t0_ns: int) -> XRayData:
        """The first ``steps`` snapshots as a read-only ``XRayData``, times in ms from t0."""
        ready_at = np.frombuffer(self.ready_at, dtype=np.int64)[: steps + 1]
        sleep_at = np.frombuffer(self.sleep_at, dtype=np.int64)[: steps + 1]
        sleep_ns = np.frombuffer(self.sleep_ns, dtype=np.int64)[: sleep_at[-1]]
        return XRayData(
            cap=self.cap,
            callbacks=list(self.names),
            ready_at=ready_at,
            ready_code=np.frombuffer(self.ready_code, dtype=np.int32)[: ready_at[-1]],
            ready_len=np.frombuffer(self.ready_len, dtype=np.int32)[:steps],
            sleep_at=sleep_at,
            sleep_code=np.frombuffer(self.sleep_code, dtype=np.int32)[: sleep_at[-1]],
            sleep_ms=(sleep_ns - t0_ns) / 1e6,
            sleep_len=np.frombuffer(self.sleep_len, dtype=np.int32)[:steps],
        )


def _pool_name(thread: str) -> str:
    head, _, tail = thread.rpartition("_")
    return head if head and tail.isdigit() else thread


def xray_of(data: TimelineData, i: int) -> XRay:
    """Step ``i`` (in the order ``Timeline.order(include_main=True)`` lists the steps) of a
    timeline recorded with ``xray=True``, as an ``XRay``."""
    x = data.xray
    if x is None:
        raise ValueError("this timeline has no x-ray: record it with asynclab.record(xray=True)")
    n = x.steps
    if isinstance(i, bool) or not isinstance(i, int | np.integer):
        raise TypeError(f"i must be a step index (an integer from 0 to {n - 1}), got {i!r}")
    if not 0 <= i < n:
        raise IndexError(f"i must be a step index from 0 to {n - 1} (the timeline has {n} "
                         f"recorded steps), got {i}")
    i = int(i)

    def name(code: int) -> tuple[str, bool]:
        return (data.task_names[code], True) if code >= 0 else (x.callbacks[-code - 1], False)

    queue = tuple(QueueEntry(*name(c)) for c in x.ready_code[x.ready_at[i]:x.ready_at[i + 1]].tolist())
    lo, hi = x.sleep_at[i], x.sleep_at[i + 1]
    sleepers = tuple(Sleeper(name(c)[0], w, name(c)[1])
                     for c, w in zip(x.sleep_code[lo:hi].tolist(), x.sleep_ms[lo:hi].tolist(),
                                     strict=True))
    t = float(data.step_start[i])
    pools: dict[str, list[int]] = {}
    for thread in data.threads:
        pools.setdefault(_pool_name(thread), [0, 0])
    for sub, beg, end, th in zip(data.job_submit.tolist(), data.job_start.tolist(),
                                 data.job_end.tolist(), data.job_thread.tolist(), strict=True):
        counts = pools[_pool_name(data.threads[th])]
        if beg <= t < end:
            counts[0] += 1
        elif sub <= t < beg:
            counts[1] += 1
    return XRay(step=i, at_ms=t, running=data.task_names[data.step_lane[i]], queue=queue,
                queue_len=int(x.ready_len[i]), sleepers=sleepers,
                sleepers_len=int(x.sleep_len[i]),
                pools=tuple(PoolState(p, r, q) for p, (r, q) in pools.items()))
