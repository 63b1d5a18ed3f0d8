"""The checks of notebook 07 · Pipelines."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .core import (
    Verdict,
    call_learner,
    close_coroutines,
    hint,
    is_number,
    judged,
    need_function,
    ok,
    run_learner,
    todo,
)

#: The exercise's own pipeline (not section 5's), as its text states it (kept equal by
#: tests/test_check_fixtures.py).
EX07_STAGES = ("fetch", "parse", "summarise")
EX07_SPEC = {"fetch": 0.030, "parse": 0.002, "summarise": 0.010}
EX07_WORKERS = {"fetch": 2, "parse": 1, "summarise": 1}


async def _pipeline(items: int) -> dict[str, float]:
    """A three-stage pipeline of sleeping workers and bounded queues: utilisation per stage."""
    queues = {stage: asyncio.Queue(4) for stage in EX07_STAGES}
    outbox = {"fetch": queues["parse"], "parse": queues["summarise"], "summarise": None}
    busy = dict.fromkeys(EX07_STAGES, 0.0)

    async def worker(stage):
        while True:
            item = await queues[stage].get()
            t0 = time.perf_counter()
            await asyncio.sleep(EX07_SPEC[stage])
            busy[stage] += time.perf_counter() - t0
            if outbox[stage] is not None:
                await outbox[stage].put(item)
            queues[stage].task_done()

    tasks = [asyncio.create_task(worker(s)) for s in EX07_STAGES for _ in range(EX07_WORKERS[s])]
    t0 = time.perf_counter()
    try:
        for n in range(items):
            await queues["fetch"].put(n)
        for stage in EX07_STAGES:
            await queues[stage].join()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - t0
    return {s: busy[s] / (EX07_WORKERS[s] * wall) for s in EX07_STAGES}


@judged
def ex07_bottleneck(answer: Any) -> Verdict:
    """Which stage limits fetch 30 ms x 2 workers, parse 2 ms x 1, summarise 10 ms x 1?"""
    if answer is None:
        return todo("set my_bottleneck to 'fetch', 'parse' or 'summarise'")
    if answer not in EX07_STAGES:
        return hint(f"answer one of {EX07_STAGES}, not {answer!r}")
    util = run_learner(lambda: _pipeline(12), "the experiment", timeout=30)
    measured = max(util, key=util.get)
    shown = ", ".join(f"{s} {u:.2f}" for s, u in util.items())
    if answer == measured:
        return ok(f"{measured} is saturated (utilisation {shown})")
    return hint(f"measured utilisation {shown}. The bottleneck is the stage with the least "
                 "capacity, workers / seconds per item, not the slowest single item: compare "
                 "2 / 30 ms with 1 / 10 ms")


@judged
def ex07_backoff(fn: Any) -> Verdict:
    """``backoff_delay(attempt, retry_after=None)``: capped exponential, equal jitter."""
    what = "backoff_delay(attempt, retry_after=None)"
    not_plain = "backoff_delay computes a number: make it a plain def, not async def"
    need_function(fn, what, is_async=False, not_plain=not_plain)
    if close_coroutines(call_learner(fn, what, 0)):  # a plain callable returning a coroutine
        return hint(not_plain)
    for attempt in (0, 1, 3, 5, 8, 12):
        ceiling = min(2.0, 0.1 * 2**attempt)
        draws = [call_learner(fn, what, attempt) for _ in range(300)]
        if not all(is_number(d) for d in draws):
            return hint(f"return a number of seconds; got {draws[0]!r}")
        if max(draws) > ceiling + 1e-9:
            return hint(f"attempt {attempt} waited {max(draws):.3f} s, above the ceiling "
                         f"{ceiling:.3f} s: cap base x 2**attempt at 2 s")
        if min(draws) < ceiling / 2 - 1e-9:
            return hint(f"attempt {attempt} waited only {min(draws):.3f} s: equal jitter "
                         f"keeps at least half the ceiling ({ceiling / 2:.3f} s)")
        if max(draws) - min(draws) < 0.2 * ceiling:
            return hint("the delays barely vary: without jitter, clients rejected together "
                         "retry together (a retry storm)")
    for retry_after in (0.05, 1.5, 3.0):
        draws = [call_learner(fn, what, 2, retry_after) for _ in range(100)]
        if min(draws) < retry_after - 1e-9:
            return hint(f"the server said Retry-After {retry_after} s and you waited "
                         f"{min(draws):.3f} s: never retry sooner than it asks")
    return ok("exponential, capped, jittered, and it honours Retry-After")
