"""Costs of the instruments: recorder overhead per task step (against viztracer and, on
3.12+, a ``sys.monitoring`` recorder), thread-pool job tracing and memory per step.

Every comparison is made in one process and one run: the variants are interleaved (plain,
recorded, plain, recorded...) on a fresh event loop each time, and the minimum over the
repetitions is kept, since other programs on a shared machine can only slow a run down.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor, wait

import asynclab

# -- the workload: N tasks x K bare yields ------------------------------------------------


async def _hopper(k: int, log: list | None, ident: int) -> None:
    if log is None:
        for _ in range(k):
            await asyncio.sleep(0)
    else:
        for _ in range(k):
            log.append(ident)
            await asyncio.sleep(0)
        log.append(ident)


async def _gather(n: int, k: int, log: list | None) -> None:
    await asyncio.gather(*(_hopper(k, log, i) for i in range(n)))


def _run_plain(n: int, k: int, log: list | None = None) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        await _gather(n, k, log)
        return time.perf_counter() - t0

    return asyncio.run(main())


def _run_recorded(n: int, k: int, log: list | None = None, xray: bool = False
                  ) -> tuple[float, int]:
    async def main() -> tuple[float, int]:
        t0 = time.perf_counter()
        with asynclab.record(xray=xray) as tl:
            await _gather(n, k, log)
        dt = time.perf_counter() - t0  # includes turning the record into a Timeline
        return dt, len(tl.step_start)

    return asyncio.run(main())


def _make_viztracer():
    try:
        from viztracer import VizTracer
    except ImportError:
        return None
    return VizTracer(log_async=True, verbose=0, register_global=False)


def _run_viztracer(tracer, n: int, k: int, log: list | None = None) -> float:
    async def main() -> float:
        t0 = time.perf_counter()
        tracer.start()
        try:
            await _gather(n, k, log)
        finally:
            tracer.stop()
        dt = time.perf_counter() - t0
        tracer.clear()
        return dt

    return asyncio.run(main())


# -- a minimal sys.monitoring recorder (3.12+) ---------------------------------------------


class _MonitoringRecorder:
    """Timestamps every start, resume, yield and return of coroutine code: the raw
    material of a timeline, kept in flat lists (about +1.0 us per step in an earlier
    measurement on this kind of machine; this bench measures it again)."""

    TOOL = 3  # sys.monitoring tool ids 0-5; 3 is free in a plain interpreter

    def __init__(self) -> None:
        self.events: list[int] = []
        self.times: list[int] = []
        self.codes: list[object] = []

    def start(self) -> None:
        mon = sys.monitoring
        mon.use_tool_id(self.TOOL, "asynclab-bench")
        ev = mon.events
        clock, events, times, codes = time.perf_counter_ns, self.events, self.times, self.codes
        coro_flag = 0x80  # CO_COROUTINE

        def make(kind: int):
            def callback(code, offset, *rest):
                if code.co_flags & coro_flag:
                    times.append(clock())
                    events.append(kind)
                    codes.append(code)
                else:
                    return mon.DISABLE  # never called again for this code object here
            return callback

        for kind, event in enumerate((ev.PY_START, ev.PY_RESUME, ev.PY_YIELD, ev.PY_RETURN)):
            mon.register_callback(self.TOOL, event, make(kind))
        mon.set_events(self.TOOL, ev.PY_START | ev.PY_RESUME | ev.PY_YIELD | ev.PY_RETURN)

    def stop(self) -> None:
        mon = sys.monitoring
        mon.set_events(self.TOOL, 0)
        for event in (mon.events.PY_START, mon.events.PY_RESUME, mon.events.PY_YIELD,
                      mon.events.PY_RETURN):
            mon.register_callback(self.TOOL, event, None)
        mon.free_tool_id(self.TOOL)
        mon.restart_events()


def _run_monitoring(n: int, k: int, log: list | None = None) -> float:
    async def main() -> float:
        rec = _MonitoringRecorder()
        t0 = time.perf_counter()
        rec.start()
        try:
            await _gather(n, k, log)
        finally:
            rec.stop()
        return time.perf_counter() - t0

    return asyncio.run(main())


# -- sections -------------------------------------------------------------------------------


def recorder_overhead(n: int, k: int, reps: int) -> dict:
    """Per-step cost of record(), viztracer and sys.monitoring against plain runs."""
    steps = n * (k + 1)
    tracer = _make_viztracer()
    monitoring = sys.version_info >= (3, 12)
    variants = {"plain": lambda: _run_plain(n, k), "record": lambda: _run_recorded(n, k)[0],
                "record(xray=True)": lambda: _run_recorded(n, k, xray=True)[0]}
    if tracer is not None:
        variants["viztracer"] = lambda: _run_viztracer(tracer, n, k)
    if monitoring:
        variants["sys.monitoring"] = lambda: _run_monitoring(n, k)
    times: dict[str, list[float]] = {name: [] for name in variants}
    _run_plain(n, k)  # warm up imports and caches
    _run_recorded(n, k)
    for _ in range(reps):
        for name, fn in variants.items():
            gc.collect()
            times[name].append(fn())
    out: dict = {"steps": steps, "reps": reps, "has_viztracer": tracer is not None,
                 "has_monitoring": monitoring}
    base = min(times["plain"])
    out["plain_us"] = base / steps * 1e6
    for name in variants:
        if name == "plain":
            continue
        best = min(times[name])
        # Also the median of paired differences (each variant run next to a plain run).
        paired = statistics.median(t - p for t, p in zip(times[name], times["plain"], strict=True))
        out[name] = {"extra_us": (best - base) / steps * 1e6, "ratio": best / base,
                     "paired_extra_us": paired / steps * 1e6}

    # Identical interleaving: a log of which task ran each step, plain vs recorded (and
    # under the other tracers too).
    logs = {}
    log: list[int] = []
    _run_plain(n, k, log)
    logs["plain"] = log
    log = []
    _run_recorded(n, k, log)
    logs["record"] = log
    log = []
    _run_recorded(n, k, log, xray=True)
    logs["record(xray=True)"] = log
    if tracer is not None:
        log = []
        _run_viztracer(tracer, n, k, log)
        logs["viztracer"] = log
    if monitoring:
        log = []
        _run_monitoring(n, k, log)
        logs["sys.monitoring"] = log
    out["order_steps"] = len(logs["plain"])
    out["order_same"] = {name: log == logs["plain"] for name, log in logs.items() if name != "plain"}
    return out


def _noop() -> None:
    return None


def _pool_batch(pool: ThreadPoolExecutor, jobs: int) -> float:
    t0 = time.perf_counter()
    futures = [pool.submit(_noop) for _ in range(jobs)]
    wait(futures)
    return time.perf_counter() - t0


def pool_overhead(jobs: int, reps: int, workers: int = 4) -> dict:
    """Per-job cost of traced_pool inside record() against a plain ThreadPoolExecutor."""
    plain_t, traced_t = [], []
    recorded_jobs = 0
    with ThreadPoolExecutor(max_workers=workers) as plain, \
            asynclab.traced_pool(workers) as traced:
        _pool_batch(plain, min(jobs, 1000))  # start the threads before timing
        with asynclab.record():
            _pool_batch(traced, min(jobs, 1000))
        for _ in range(reps):
            gc.collect()
            plain_t.append(_pool_batch(plain, jobs))
            gc.collect()
            with asynclab.record() as tl:
                traced_t.append(_pool_batch(traced, jobs))
            recorded_jobs = len(tl.jobs)
    paired = statistics.median(t - p for t, p in zip(traced_t, plain_t, strict=True))
    return {"jobs": jobs, "reps": reps, "workers": workers,
            "plain_us": min(plain_t) / jobs * 1e6, "traced_us": min(traced_t) / jobs * 1e6,
            "extra_us": (min(traced_t) - min(plain_t)) / jobs * 1e6,
            "paired_extra_us": paired / jobs * 1e6, "recorded_jobs": recorded_jobs}


def memory_per_step(n: int, k: int, reps: int = 2) -> dict:
    """Bytes allocated per recorded step: tracemalloc's peak, recorded minus plain."""
    steps = n * (k + 1)

    def measure(recorded: bool) -> tuple[int, int]:
        gc.collect()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            if recorded:
                holder: list = []

                async def main() -> None:
                    with asynclab.record() as tl:
                        await _gather(n, k, None)
                    holder.append(tl)

                asyncio.run(main())
            else:
                asyncio.run(_gather(n, k, None))
            peak = tracemalloc.get_traced_memory()[1]
            gc.collect()  # tasks and the raw record form cycles (via their contexts)
            current = tracemalloc.get_traced_memory()[0]
            if recorded:
                holder.clear()
        finally:
            tracemalloc.stop()
        return peak - before, current - before

    measure(True)  # warm up: first-use caches are not the recorder's cost
    plain = [measure(False) for _ in range(reps)]
    rec = [measure(True) for _ in range(reps)]
    plain_peak = min(p[0] for p in plain)
    rec_peak = min(r[0] for r in rec)
    # Still allocated while the Timeline is held, beyond what a plain run leaves behind.
    kept = min(r[1] for r in rec) - min(p[1] for p in plain)
    return {"steps": steps, "plain_peak": plain_peak, "recorded_peak": rec_peak,
            "peak_per_step": (rec_peak - plain_peak) / steps, "kept_per_step": kept / steps}
