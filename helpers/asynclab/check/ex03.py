"""The checks of notebook 03 · Async tool execution."""

from __future__ import annotations

import asyncio
import math
import os
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


#: Other forms of the two answers.
WORDS = {"block": "blocks", "blocked": "blocks", "blocking": "blocks", "frees": "free",
         "freed": "free", "not blocked": "free", "non-blocking": "free"}


@judged
def ex03_answers(given: Any) -> Verdict:
    """For each line inside a coroutine: "blocks" the loop, or leaves it "free"."""
    if isinstance(given, dict):  # case, spaces and a word's other forms ("Blocked") ignored
        given = {line: WORDS.get(pick.strip().lower(), pick.strip().lower())
                 if isinstance(pick, str) else pick for line, pick in given.items()}
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


#: Exercise 2: 30 calls of 100 ms, 4 workers: ceil(30 / 4) = 8 rounds of one latency.
CALLS, LATENCY_MS, WORKERS = 30, 100, 4
RIGHT_MS = math.ceil(CALLS / WORKERS) * LATENCY_MS


def _default_pool() -> int:
    """The default ThreadPoolExecutor size here (the formula of 3.13+; 3.8-3.12 use cpu_count)."""
    cpus = getattr(os, "process_cpu_count", os.cpu_count)()
    return min(32, (cpus or 1) + 4)


def _burst_answers() -> dict[float, str]:
    """The right answer and each misconception's, with the hint that names it."""
    answers = {
        RIGHT_MS: "",
        LATENCY_MS: "to_thread does not start a thread per call: 4 workers take the 30 jobs "
                    "4 at a time, so the calls wait in rounds (section 5)",
        CALLS / WORKERS * LATENCY_MS: "30 / 4 is 7.5 rounds, but there is no half round: the "
                                      "last 2 calls take a whole latency too, ceil(30 / 4) rounds",
        RIGHT_MS + LATENCY_MS: "that is more rounds than there are: 30 calls on 4 workers are "
                               "ceil(30 / 4) rounds of one latency",
        CALLS * LATENCY_MS: "the 4 workers run their jobs side by side: each round of 4 calls "
                            "costs one latency, not four",
    }
    default = math.ceil(CALLS / _default_pool()) * LATENCY_MS
    answers.setdefault(default, "this loop's default pool was set to 4 workers with "
                                "set_default_executor, not the usual min(32, cpus + 4)")
    return answers


@judged
def ex03_burst(predicted: Any) -> Verdict:
    """30 to_thread calls of 100 ms on a default pool of 4 workers: the wall time in ms."""
    predicted = need_positive_ms(predicted, "burst_ms")
    measured = run_learner(lambda: _burst(CALLS, LATENCY_MS / 1e3, WORKERS), "the experiment",
                           timeout=30)
    if predicted < 10:
        return hint(f"measured {measured:.0f} ms. burst_ms is in milliseconds: {predicted:g} ms "
                     "is less than one call; did you write seconds?")
    answers = _burst_answers()  # an answer must be closer to the right one than to any other
    nearest = min(answers, key=lambda ms: abs(predicted - ms))
    if nearest == RIGHT_MS:
        return ok(f"measured {measured:.0f} ms: {RIGHT_MS // LATENCY_MS} rounds of 4 calls")
    return hint(f"measured {measured:.0f} ms. {answers[nearest]}")
