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
EX07_SPEC = {"fetch": 0.040, "parse": 0.002, "summarise": 0.010}
EX07_WORKERS = {"fetch": 8, "parse": 1, "summarise": 1}
#: Other spellings a learner may use for a stage.
SPELLINGS = {"summarize": "summarise"}


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


def _capacity(stage: str) -> float:
    """Items per second a stage can pass on: workers / seconds per item."""
    return EX07_WORKERS[stage] / EX07_SPEC[stage]


@judged
def ex07_bottleneck(answer: Any) -> Verdict:
    """Which stage limits fetch 40 ms x 8 workers, parse 2 ms x 1, summarise 10 ms x 1?"""
    if answer is None:
        return todo("set my_bottleneck to 'fetch', 'parse' or 'summarise'")
    given = SPELLINGS.get(answer.strip().lower(), answer.strip().lower()) \
        if isinstance(answer, str) else None
    if given not in EX07_STAGES:
        return hint(f"answer one of {EX07_STAGES} (a string), not {answer!r}")
    util = run_learner(lambda: _pipeline(16), "the experiment", timeout=30)
    shown = ", ".join(f"{s} {u:.2f}" for s, u in util.items())
    capacity = ", ".join(f"{s} {EX07_WORKERS[s]} / {EX07_SPEC[s] * 1e3:g} ms = "
                         f"{_capacity(s):.0f} items/s" for s in EX07_STAGES)
    truth = min(EX07_STAGES, key=_capacity)
    if given == truth:
        return ok(f"{truth} has the least capacity ({capacity}); measured utilisation: {shown}")
    slowest_item = max(EX07_STAGES, key=EX07_SPEC.get)
    if given == slowest_item:
        return hint(f"{given} has the slowest single item, but it has "
                     f"{EX07_WORKERS[given]} workers side by side. The bottleneck is the stage "
                     f"with the least capacity, workers / seconds per item ({capacity}); "
                     f"measured utilisation: {shown}")
    return hint(f"{given} keeps up easily. Compare each stage's capacity, workers / seconds per "
                 f"item ({capacity}); measured utilisation: {shown}")


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
