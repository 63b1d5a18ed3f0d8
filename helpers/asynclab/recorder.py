"""``record()``: record what really runs on the event loop, and in thread pools.

How it works (docs/recorder.md says more): every callback an asyncio loop runs, including each step of
each task, goes through ``asyncio.events.Handle._run``. While a recording is active that
one method is replaced by a version that timestamps task steps into flat arrays, so the
cost is a few attribute looks-ups and two clock reads per step. Only handles whose
context carries this recording (a ContextVar set when the block is entered, inherited by
every task created inside it) on the recording's loop are timed, so the kernel's own
callbacks are left alone. The original method is put back when the last recording ends,
whatever way the block is left.

``record(xray=True)`` also notes, before each recorded step, what the loop held: its ready
queue and its timers (``loopstate.LoopSnapshots``). It installs a different replacement
(``_xray_run``) while any x-ray recording is active, so plain recordings pay nothing for it.

Thread-pool jobs are recorded by ``TracedThreadPool`` (``traced_pool``): each job is
wrapped in a bound method that notes its worker thread and its start and finish. While a
recording is attached to a loop, that loop's default executor is a traced pool of the
default size, so ``asyncio.to_thread`` and ``run_in_executor(None, ...)`` show too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import threading
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import get_ident
from time import perf_counter_ns
from typing import Any

import numpy as np

from .loopstate import LoopSnapshots
from .records import TimelineData
from .taskfactory import factory_task_class
from .timeline import Timeline
from .validate import check_int

__all__ = ["record", "traced_pool", "TracedThreadPool", "is_patched", "follow_run"]

_ACTIVE: contextvars.ContextVar[_Recording | None] = contextvars.ContextVar(
    "asynclab_recording", default=None
)
_ORIGINAL_RUN = asyncio.events.Handle._run
_TASK_TYPES = tuple({asyncio.Task, asyncio.tasks._PyTask})
_CLOSED = object()  # a recording's ``loop`` after it ended: no handle's loop is this
_DEFAULT_NAME = re.compile(r"Task-\d+")  # asyncio's name for a task nobody named

_patch_lock = threading.Lock()
_patch_users = 0  # active recordings
_xray_users = 0  # active recordings with xray=True


class _Recording:
    """The raw, flat record of one ``record()`` block. Times are ``perf_counter_ns``."""

    __slots__ = (
        "loop", "t_start", "t_end", "starts", "ends", "lanes", "lane_of",
        "tasks", "created", "main_task", "jobs", "xray",
    )

    def __init__(self) -> None:
        self.loop: Any = None  # the loop being recorded; None until one is adopted
        self.starts = array("q")
        self.ends = array("q")
        self.lanes = array("i")
        self.lane_of: dict[int, int] = {}  # id(task) -> lane; tasks stay referenced below
        self.tasks: list[asyncio.Task] = []
        self.created: list[int] = []  # creation time per lane, or -1 if not seen
        self.main_task: asyncio.Task | None = None
        # per job: submitted, started, finished, the thread's ident and its pool
        self.jobs: list[tuple[int, int, int, int, ThreadPoolExecutor]] = []
        self.t_start = self.t_end = 0
        self.xray: LoopSnapshots | None = None

    def lane_in(self, owner: Any, context: Any) -> int | None:
        """The lane of ``owner`` if it is a task of this recording (seen now if its handle's
        ``context`` carries this recording), else None. Used by the x-ray."""
        lane = self.lane_of.get(id(owner))
        if lane is None and isinstance(owner, _TASK_TYPES) and context.get(_ACTIVE) is self:
            lane = self.register(owner, -1)
        return lane

    def register(self, task: asyncio.Task, created: int) -> int:
        lane = len(self.tasks)
        self.lane_of[id(task)] = lane
        self.tasks.append(task)
        self.created.append(created)
        return lane

    def run_job(self, pool: ThreadPoolExecutor, t_submit: int, fn: Any, args: tuple,
                kwargs: dict) -> Any:
        """Run one pool job in its worker thread, noting when and where it ran (the thread
        by its ident: its name is looked up once, when the timeline is made)."""
        t_begin = perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            # One tuple per job (not per step), appended atomically from any thread.
            self.jobs.append((t_submit, t_begin, perf_counter_ns(), get_ident(), pool))


def _recording_run(self: asyncio.Handle, _clock=perf_counter_ns, _active=_ACTIVE,
                   _run=_ORIGINAL_RUN, _tasks=_TASK_TYPES) -> None:
    """Replacement for ``Handle._run``: time the step if it belongs to a recorded task.
    (The defaults bind globals as fast locals; the loop calls ``handle._run()`` bare.)"""
    rec = self._context.get(_active)
    if rec is None or self._loop is not rec.loop:
        return _run(self)
    owner = getattr(self._callback, "__self__", None)
    lane = rec.lane_of.get(id(owner))
    if lane is None:
        if not isinstance(owner, _tasks):
            return _run(self)  # a plain callback, not a task step
        lane = rec.register(owner, -1)
    t0 = _clock()
    try:
        _run(self)
    finally:
        rec.ends.append(_clock())
        rec.starts.append(t0)
        rec.lanes.append(lane)


def _xray_run(self: asyncio.Handle) -> None:
    """``_recording_run`` that first notes what the loop holds, for x-ray recordings."""
    rec = self._context.get(_ACTIVE)
    if rec is None or self._loop is not rec.loop:
        return _ORIGINAL_RUN(self)
    owner = getattr(self._callback, "__self__", None)
    lane = rec.lane_of.get(id(owner))
    if lane is None:
        if not isinstance(owner, _TASK_TYPES):
            return _ORIGINAL_RUN(self)
        lane = rec.register(owner, -1)
    if rec.xray is not None:
        rec.xray.take(self._loop)  # before the clock starts: not counted in the step
    t0 = perf_counter_ns()
    try:
        _ORIGINAL_RUN(self)
    finally:
        rec.ends.append(perf_counter_ns())
        rec.starts.append(t0)
        rec.lanes.append(lane)


def _install() -> None:
    """Put the replacement that the active recordings need in place (under the lock)."""
    if _patch_users == 0:
        asyncio.events.Handle._run = _ORIGINAL_RUN
    else:
        asyncio.events.Handle._run = _xray_run if _xray_users else _recording_run


def _patch(xray: bool = False) -> None:
    global _patch_users, _xray_users
    with _patch_lock:
        _patch_users += 1
        _xray_users += xray
        _install()


def _unpatch(xray: bool = False) -> None:
    global _patch_users, _xray_users
    with _patch_lock:
        _patch_users -= 1
        _xray_users -= xray
        _install()


def is_patched() -> bool:
    """True while any recording is active (``Handle._run`` is replaced)."""
    return asyncio.events.Handle._run is not _ORIGINAL_RUN


class TracedThreadPool(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose jobs are recorded by the active ``record()`` block.

    Outside a recording it behaves exactly like a plain ``ThreadPoolExecutor``.
    """

    def submit(self, fn, /, *args, **kwargs):
        rec = _ACTIVE.get()
        if rec is None or rec.loop is _CLOSED:
            return super().submit(fn, *args, **kwargs)
        return super().submit(rec.run_job, self, perf_counter_ns(), fn, args, kwargs)


def traced_pool(max_workers: int, *, name: str = "worker") -> TracedThreadPool:
    """A thread pool of ``max_workers`` threads (named ``name_0``, ``name_1``...) whose jobs
    show on the timeline of the enclosing ``record()``. Use it as a context manager."""
    check_int("max_workers", max_workers, 1, 1024)
    if not isinstance(name, str) or not name.isprintable() or not 0 < len(name) <= 40:
        raise TypeError(f"name must be a printable string of 1 to 40 characters, got {name!r}")
    return TracedThreadPool(max_workers=max_workers, thread_name_prefix=name)


@contextlib.contextmanager
def _attach(rec: _Recording, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Record ``loop``: note task creation times, trace its default executor."""
    previous_loop, rec.loop = rec.loop, loop
    if rec.main_task is not None and id(rec.main_task) not in rec.lane_of:
        rec.register(rec.main_task, -1)  # the code of the block itself: first lane
    previous_factory = loop.get_task_factory()
    task_class = factory_task_class()

    def factory(loop, coro, **kwargs):
        if previous_factory is None:
            task = task_class(coro, loop=loop, **kwargs)
        else:
            task = previous_factory(loop, coro, **kwargs)
        ctx = kwargs.get("context")
        owner = ctx.get(_ACTIVE) if ctx is not None else _ACTIVE.get()
        if owner is rec and id(task) not in rec.lane_of:
            rec.register(task, perf_counter_ns())
        return task

    previous_executor = loop._default_executor
    pool = TracedThreadPool(thread_name_prefix="asyncio")  # the loop's own default size
    loop.set_task_factory(factory)
    loop._default_executor = pool
    try:
        yield
    finally:
        if loop.get_task_factory() is factory:
            loop.set_task_factory(previous_factory)
        if loop._default_executor is pool:
            loop._default_executor = previous_executor
        rec.loop = previous_loop
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def follow_run() -> Iterator[None]:
    """Used by ``asynclab.run`` on its fresh loop: a recording around the call follows it.

    The caller is blocked in ``run`` meanwhile (a notebook cell, say), so the recording
    moves to the new loop for the run's duration, and the run's main task takes over the
    caller's "main" lane if the caller has not run a recorded step yet.
    """
    rec = _ACTIVE.get()
    loop = asyncio.get_running_loop()
    if rec is None or rec.t_end or rec.loop is loop:
        yield
        return
    task = asyncio.current_task()
    old = rec.main_task
    lane = rec.lane_of.get(id(old)) if old is not None else None
    if lane is not None and lane not in rec.lanes:
        del rec.lane_of[id(old)]
        rec.tasks[lane], rec.created[lane] = task, -1
        rec.lane_of[id(task)] = lane
    rec.main_task = task
    with _attach(rec, loop):
        yield


@contextlib.contextmanager
def record(*, xray: bool = False) -> Iterator[Timeline]:
    """Record the event loop while the block runs; yields a ``Timeline`` filled at the end.

    Use it around top-level ``await`` in a notebook cell, inside a coroutine run by
    ``asynclab.run``, or around a call of ``asynclab.run(...)`` itself::

        with asynclab.record() as tl:
            await asyncio.gather(work(1), work(2))
        tl.plot()

    Only tasks created inside the block (and the code of the block itself) are recorded.
    The step that leaves the block is still running when the timeline is made, so it is
    not on it. Tasks made by ``eager_task_factory`` miss their first (synchronous) step.

    ``xray=True`` also notes, before each step, the loop's ready queue and its timers
    (read back with ``Timeline.xray_at(i)``, ``ready_at(i)``..., shown by
    ``asynclab.xray(tl)``); it costs more per step (docs/recorder.md).
    """
    if not isinstance(xray, bool):
        raise TypeError(f"xray must be True or False, got {xray!r}")
    rec = _Recording()
    if xray:
        rec.xray = LoopSnapshots(_ACTIVE, rec, rec.lane_of, rec.lane_in, _TASK_TYPES)
    timeline = Timeline()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    token = _ACTIVE.set(rec)
    _patch(xray)
    try:
        with contextlib.ExitStack() as stack:
            if loop is not None:
                rec.main_task = asyncio.current_task()
                stack.enter_context(_attach(rec, loop))
            rec.t_start = perf_counter_ns()
            try:
                yield timeline
            finally:
                rec.t_end = perf_counter_ns()
    finally:
        rec.loop = _CLOSED
        _unpatch(xray)
        _ACTIVE.reset(token)
        timeline.load(_timeline_data(rec))


def _outcome(task: Any) -> str:
    # Read the private state so that a failed task's exception is not marked as retrieved
    # (which would silence asyncio's "Task exception was never retrieved" warning).
    state = getattr(task, "_state", "PENDING")
    if state == "CANCELLED":
        return "cancelled"
    if state == "FINISHED":
        return "failed" if getattr(task, "_exception", None) is not None else "done"
    return "running"


def _timeline_data(rec: _Recording) -> TimelineData:
    """Turn the raw record into arrays in ms from the start."""
    t0 = rec.t_start
    n = min(len(rec.starts), len(rec.ends), len(rec.lanes))
    names = []
    for task in rec.tasks:
        name = task.get_name()
        if task is rec.main_task and _DEFAULT_NAME.fullmatch(name):
            name = "main"
        names.append(name)
    jobs = list(rec.jobs)
    thread_index: dict[Any, int] = {}
    threads: list[str] = []
    named: dict[Any, dict[int, str]] = {}  # pool -> its threads' names by ident
    for job in sorted(jobs, key=lambda j: j[1]):
        key = job[3], job[4]
        if key not in thread_index:
            if job[4] not in named:  # a pool keeps its (finished) threads: read, not written
                named[job[4]] = {t.ident: t.name for t in list(job[4]._threads)}
            thread_index[key] = len(threads)
            threads.append(named[job[4]].get(job[3], f"thread {job[3]}"))
    job_ms = (np.array([j[:3] for j in jobs], dtype=np.int64).reshape(-1, 3) - t0) / 1e6
    return TimelineData(
        wall_ms=(rec.t_end - t0) / 1e6,
        task_names=names,
        # A task created before the recording began (marked -1) is alive from its start.
        created_ms=np.maximum((np.array(rec.created, dtype=np.int64) - t0) / 1e6, 0.0),
        outcomes=[_outcome(t) for t in rec.tasks],
        step_start=(np.frombuffer(rec.starts, dtype=np.int64)[:n] - t0) / 1e6,
        step_end=(np.frombuffer(rec.ends, dtype=np.int64)[:n] - t0) / 1e6,
        step_lane=np.frombuffer(rec.lanes, dtype=np.int32)[:n],
        threads=threads,
        job_submit=job_ms[:, 0],
        job_start=job_ms[:, 1],
        job_end=job_ms[:, 2],
        job_thread=[thread_index[j[3], j[4]] for j in jobs],
        xray=None if rec.xray is None else rec.xray.data(n, t0),
    )
