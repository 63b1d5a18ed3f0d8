"""The checks of notebook 06 · Thread and process pools."""

from __future__ import annotations

import asyncio
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..runner import run
from ..workloads import usable_cores
from . import core
from .core import (
    Verdict,
    call_learner,
    close_coroutines,
    hint,
    judged,
    need_function,
    ok,
    todo,
)


@judged
def ex06_workers(n: Any) -> Verdict:
    """The fewest workers for 60 calls of 50 ms within 250 ms."""
    if n is None:
        return todo("set workers_needed to a number of workers")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        return hint(f"workers_needed must be a whole number of workers from 1 to 64, got {n!r}")
    waves = math.ceil(60 / n)
    if waves * 50 > 250:
        return hint(f"{n} workers need ceil(60/{n}) = {waves} waves of 50 ms = "
                     f"{waves * 50} ms. Each worker does one call at a time")
    if n > 1 and math.ceil(60 / (n - 1)) * 50 <= 250:
        return hint(f"{n} workers meet the target, but so would {n - 1}: the makespan is "
                     "ceil(J/N) x L, so it only drops when the number of waves drops")
    with ThreadPoolExecutor(max_workers=n) as pool:
        t0 = time.perf_counter()
        list(pool.map(time.sleep, [0.05] * 60))
        took = time.perf_counter() - t0
    return ok(f"{n} workers, {waves} waves, measured {took * 1e3:.0f} ms")


def _default_pool_size() -> int:
    async def measure():
        await asyncio.to_thread(time.sleep, 0)  # make sure the loop has its default executor
        return asyncio.get_running_loop()._default_executor._max_workers  # private: no API

    return run(measure(), timeout=core.TIMEOUT)


@judged
def ex06_slow_calls(fn: Any) -> Verdict:
    """``slow_calls_before_queueing()``: the default executor's size, read from the machine."""
    what = "slow_calls_before_queueing(), a plain function returning a number"
    not_plain = "make it a plain def that returns a number, not an async def"
    need_function(fn, what, is_async=False, not_plain=not_plain,
                   not_callable="pass the function itself: the answer must be computed from "
                                "the machine, not typed in")
    answer = call_learner(fn, what)
    if close_coroutines(answer):  # a plain callable that returned a coroutine
        return hint(not_plain)
    if answer == _default_pool_size():
        return ok("the default executor's size, min(32, os.cpu_count() + 4), is shared by "
                     "every to_thread")
    if answer in (usable_cores(), os.cpu_count()):
        return hint("threads that wait need no core. The limit is the size of the pool "
                     "behind to_thread, not the number of cores")
    return hint("to_thread does not start a thread per call; it uses the loop's default "
                 "executor. How big is it? (section 4)")
