"""The checks of notebook 05 · Task management."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .core import (
    Stop,
    Verdict,
    hint,
    judged,
    need_function,
    ok,
    run_learner,
)

#: Notebook 05's agents (section 5) and searches (section 6): copies of its
#: ``AGENT_LATENCY``, ``FAILING``, ``AGENT_DEADLINE``, ``SEARCH_LATENCY``, kept equal by
#: tests/test_check_fixtures.py.
EX05_AGENT_LATENCY = {"planner": 0.08, "coder": 0.04, "researcher": 0.25, "critic": 0.10}
EX05_FAILING = {"coder"}
EX05_AGENT_DEADLINE = 0.12
EX05_SEARCH_LATENCY = {"web search": 0.09, "vector store": 0.03, "wiki": 0.06}


@judged
def ex05_retry(fn: Any) -> Verdict:
    """``retry(tool, attempts)``: retry errors, re-raise the last, never retry a cancellation."""
    what = "retry(tool, attempts), an async def"
    need_function(fn, what, is_async=True)
    calls: list[str] = []

    async def flaky():  # fails twice, then answers
        calls.append("flaky")
        await asyncio.sleep(0.001)
        if calls.count("flaky") < 3:
            raise ConnectionError("reset by peer")
        return "answer"

    async def broken():  # always fails
        calls.append("broken")
        await asyncio.sleep(0.001)
        raise ConnectionError("refused")

    async def slow():
        calls.append("slow")
        await asyncio.sleep(0.1)
        return "late"

    async def trial():
        try:
            answer = await fn(flaky, attempts=3)
        except ConnectionError:
            return "gave up", None, None, None
        try:
            await fn(broken, attempts=2)
            last = "no error"
        except ConnectionError:
            last = "ConnectionError"
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(0.02):
                await fn(slow, attempts=3)
        except TimeoutError:
            return answer, last, "TimeoutError", time.perf_counter() - t0
        return answer, last, "no TimeoutError", time.perf_counter() - t0

    answer, last, deadline, took = run_learner(trial, what)
    if answer == "gave up":
        return hint("retry(flaky, attempts=3) raised after fewer than 3 calls: catch the "
                     "error and call the tool again, up to `attempts` calls in all")
    if answer != "answer":
        return hint(f"retry(flaky) returned {answer!r}; return the tool's result")
    if last != "ConnectionError" or calls.count("broken") != 2:
        return hint(f"a tool that always fails was called {calls.count('broken')} time(s) with "
                     "attempts=2, and retry ended with "
                     f"{'no error' if last == 'no error' else last}: call it `attempts` times, "
                     "then re-raise the last error")
    if deadline != "TimeoutError" or calls.count("slow") > 1:
        return hint("the deadline did not stop retry: it retried after a CancelledError. "
                     "Catch Exception, not BaseException (or re-raise CancelledError)")
    if took > (0.02 + 0.1) / 2:
        return hint("the deadline fired late; do not wait for the tool after a cancellation")
    return ok("retries errors, stops at the deadline")


@judged
def ex05_collect(fn: Any) -> Verdict:
    """``collect(names, deadline)``: every agent concurrently, each on its own deadline."""
    what = "collect(names, deadline), an async def"
    need_function(fn, what, is_async=True)
    names = list(EX05_AGENT_LATENCY)
    deadline = 0.15
    expected = {n: "timed out" if EX05_AGENT_LATENCY[n] > min(EX05_AGENT_DEADLINE, deadline)
                else "failed" if n in EX05_FAILING else f"{n}: ok" for n in names}
    spans = [min(EX05_AGENT_LATENCY[n], EX05_AGENT_DEADLINE, deadline) for n in names]
    ideal, sequential = max(spans), sum(spans)

    async def trial():
        t0 = time.perf_counter()
        try:
            got = await fn(names, deadline)
        except (NotImplementedError, Stop):
            raise
        except Exception as exc:
            raise Stop(hint(f"collect raised {type(exc).__name__}: {exc}. One agent's error "
                              "must become a value: return_exceptions=True, or catch it per "
                              "agent")) from None
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return got, time.perf_counter() - t0, left

    got, took, left = run_learner(trial, what)
    if got != expected:  # the critic has 20 ms to spare: on a loaded machine, look twice
        got, took, left = run_learner(trial, what)
    if got != expected:
        return hint(f"expected {expected}, got {got}. A deadline raises TimeoutError "
                     "(the same class as asyncio.TimeoutError); the coder raises RuntimeError")
    if left:
        return hint("some agents were still running when collect returned")
    if took > (ideal + sequential) / 2:
        return hint("right answers, but the agents ran one after another: start them "
                     "all, then wait (gather)")
    return ok("every result kept, concurrently")


@judged
def ex05_fastest(fn: Any) -> Verdict:
    """``fastest(tools)``: the first search result, and no search left running."""
    what = "fastest(tools), an async def"
    need_function(fn, what, is_async=True)
    tools = list(EX05_SEARCH_LATENCY)
    slowest = max(EX05_SEARCH_LATENCY.values())
    best = min(EX05_SEARCH_LATENCY.values())

    async def trial():
        t0 = time.perf_counter()
        got = await fn(tools)
        took = time.perf_counter() - t0
        # Looked at at once, with no await in between: a search cancelled but not awaited
        # has not run its cancellation yet, so it is not done.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        left = [t for t in others if not t.done()]
        cancelled_only = sum(1 for t in left if t.cancelling())
        for t in left:  # clean up after the learner: nothing outlives the check
            t.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        return got, took, len(left), cancelled_only

    got, took, left, cancelled_only = run_learner(trial, what)
    if got != f"hits from {min(EX05_SEARCH_LATENCY, key=EX05_SEARCH_LATENCY.get)}":
        return hint(f"got {got!r}; return the result (task.result()) of the first task done")
    if took > (best + slowest) / 2:
        return hint("right answer, but you waited for the slow searches too: "
                     "asyncio.wait(..., return_when=asyncio.FIRST_COMPLETED)")
    if cancelled_only:
        return hint(f"{cancelled_only} searches cancelled but still running when you returned: "
                     "cancel() only asks. Await the cancelled tasks (asyncio.gather(*pending, "
                     "return_exceptions=True), or asyncio.wait(pending)) before returning")
    if left:
        return hint(f"{left} searches still running after you returned: cancel the pending ones")
    return ok("the fastest answer, and nothing left running")
