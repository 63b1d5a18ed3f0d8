"""The checks of notebook 03 · Async tool execution."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .core import (
    Verdict,
    hint,
    judged,
    need_choices,
    need_positive_ms,
    ok,
    run_learner,
)

#: The answer key; its keys are the notebook's ``answers`` (kept equal by
#: tests/test_check_fixtures.py).
EX03_KEY = {
    "requests.get(url)": "blocks",
    "await asyncio.to_thread(requests.get, url)": "free",
    "time.sleep(1)": "blocks",
    "await client.get(url)  # httpx.AsyncClient": "free",
    "await asyncio.to_thread(time.sleep(1))": "blocks",
}


@judged
def ex03_answers(given: Any) -> Verdict:
    """For each line inside a coroutine: "blocks" the loop, or leaves it "free"."""
    need_choices(given, EX03_KEY, "answers", ("blocks", "free"))
    for line, pick in given.items():
        if pick == EX03_KEY[line]:
            continue
        if line.endswith("time.sleep(1))"):
            return hint("look at the parentheses. time.sleep(1) is *called* here, on the loop, "
                         "before to_thread ever sees it; pass the function and its argument: "
                         "to_thread(time.sleep, 1)")
        if pick == "free":
            return hint(f"{line!r} has no await: a sync call runs to the end on the loop "
                         "thread, and gather cannot overlap it (section 2)")
        return hint(f"{line!r} awaits something that suspends, so the loop runs other tasks "
                     "while it waits (sections 3 and 4)")
    return ok("only an await that suspends frees the loop")


async def _burst(calls: int, latency: float, workers: int) -> float:
    with ThreadPoolExecutor(workers) as pool:
        asyncio.get_running_loop().set_default_executor(pool)
        t0 = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(time.sleep, latency) for _ in range(calls)))
        return (time.perf_counter() - t0) * 1e3


@judged
def ex03_burst(predicted: Any) -> Verdict:
    """30 to_thread calls of 100 ms on a default pool of 4 workers: the wall time in ms."""
    predicted = need_positive_ms(predicted, "burst_ms")
    measured = run_learner(lambda: _burst(30, 0.1, 4), "the experiment", timeout=30)
    if 0.8 * predicted <= measured <= 1.6 * predicted:  # slack for a busy machine
        return ok(f"measured {measured:.0f} ms")
    if predicted < measured:
        return hint(f"measured {measured:.0f} ms. to_thread does not start a thread per call: "
                     "4 workers take the 30 jobs 4 at a time (section 5)")
    return hint(f"measured {measured:.0f} ms. The 4 workers run their jobs side by side: "
                 "each round of 4 calls costs one latency, not four")
