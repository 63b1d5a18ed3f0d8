"""The checks of notebook 04 · Race conditions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..recorder import record
from .core import (
    Verdict,
    hint,
    is_number,
    judged,
    need_function,
    not_a_number,
    ok,
    run_learner,
    todo,
)


@judged
def ex04_prediction(predicted: Any) -> Verdict:
    """Three tasks run the tutorial's increment 100 times each: the final counter."""
    if predicted is None:
        return todo("set predicted_final to a number")
    if not is_number(predicted):
        return hint(not_a_number("predicted_final", predicted))
    state = {"counter": 0}

    async def increment(iterations):  # the tutorial's: an await between read and write
        for _ in range(iterations):
            temp = state["counter"]
            await asyncio.sleep(0)
            state["counter"] = temp + 1

    async def three_tasks():
        await asyncio.gather(*(increment(100) for _ in range(3)))
        return state["counter"]

    counter = run_learner(three_tasks, "the experiment")
    if predicted == counter:
        return ok(f"{counter}, every time")
    if predicted == 300:
        return hint("not 300. Each task awaits between its read and its write; who runs there?")
    if 100 < predicted < 300:
        return hint("it is not random. The ready queue is FIFO, so the three tasks move "
                     "in lockstep: each reads the same value before any of them writes")
    return hint(f"not {predicted}. Trace the first round: A reads 0, B reads 0, C reads 0, "
                 "then ...")


@judged
def ex04_increment(fn: Any) -> Verdict:
    """``increment_fixed(state, iterations)``: no lost update, no lock, a yield per iteration."""
    what = "increment_fixed(state, iterations), an async def"
    need_function(fn, what, is_async=True)

    async def trial():
        state = {"count": 0}
        with record() as tl:
            await asyncio.gather(*(asyncio.create_task(fn(state, 50), name=f"T{i}")
                                   for i in range(3)))
        return state["count"], min(t.steps for t in tl.tasks if t.name.startswith("T"))

    count, steps = run_learner(trial, what)
    if count != 150:
        if count > 150:
            return hint(f"{count} of 150: some updates counted twice; add 1 per iteration")
        return hint(f"{150 - count} updates lost. An await still sits between the read "
                     "and the write; move the await before the read or after the write")
    if steps < 50:
        return hint("no update lost, but a task never yields: keep one "
                     "await asyncio.sleep(0) in every iteration")
    return ok("150 of 150, and every task yielded in every iteration")


# Notebook 04's ``BudgetStore`` and ``LLM_LATENCY``: copies, kept equal by
# tests/test_check_fixtures.py.
class BudgetStore:
    """A token budget where every access awaits, like a remote database (notebook 04)."""

    def __init__(self, tokens: int) -> None:
        self._tokens = tokens

    async def get(self) -> int:
        await asyncio.sleep(0.001)
        return self._tokens

    async def set(self, tokens: int) -> None:
        await asyncio.sleep(0.001)
        self._tokens = tokens


#: The simulated model call's latency in notebook 04 (``LLM_LATENCY``), in seconds.
EX04_LLM_LATENCY = 0.05


@judged
def ex04_store_agent(fn: Any, agents: int = 4, cost: int = 100) -> Verdict:
    """``store_agent(store, lock, cost, calls)``: never overspend, and calls still overlap."""
    what = "store_agent(store, lock, cost, calls), an async def"
    need_function(fn, what, is_async=True)
    allowed = 2 * agents  # the budget allows two calls per agent

    async def trial():
        store, lock, calls = BudgetStore(allowed * cost + cost // 2), asyncio.Lock(), []
        t0 = time.perf_counter()
        await asyncio.gather(*(fn(store, lock, cost, calls) for _ in range(agents)))
        return await store.get(), len(calls), time.perf_counter() - t0

    left, n_calls, took = run_learner(trial, what)
    if left < 0 or n_calls > allowed:
        return hint(f"overspent ({n_calls} calls for a budget that allows {allowed}). "
                     "Between `await store.get()` and `await store.set()` other agents run: "
                     "hold the lock across the whole check-and-reserve")
    if n_calls < allowed:
        return hint(f"only {n_calls} calls for a budget that allows {allowed}: keep "
                     "looping until the budget left is smaller than the cost (and append "
                     "to calls after each model call)")
    # Overlapping calls take about 2 latencies (two rounds); one at a time, 2 x agents.
    if took > agents * EX04_LLM_LATENCY:
        return hint("correct, but the calls ran one at a time: release the lock before "
                     "the model call; hold it only for the check-and-reserve")
    return ok("no overspending, and the calls overlapped")
