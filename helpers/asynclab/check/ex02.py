"""The checks of notebook 02 · Concurrency vs parallelism."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..recorder import record
from .core import (
    Verdict,
    hint,
    judged,
    need_choices,
    need_positive_ms,
    ok,
    run_learner,
)

#: The answer key; its keys are the notebook's ``choices`` (kept equal by
#: tests/test_check_fixtures.py).
EX02_RIGHT = {
    "fetch 20 web pages": "gather",
    "call a language model for 8 agents at once": "gather",
    "score 8 chess positions with a pure-Python search": "processes",
    "parse 50 large documents already in memory, in pure Python": "processes",
}


def _tidy(given: Any) -> Any:
    """The learner's picks with case and spaces ignored ("Gather " is "gather")."""
    if not isinstance(given, dict):
        return given
    return {job: pick.strip().lower() if isinstance(pick, str) else pick
            for job, pick in given.items()}


@judged
def ex02_choices(given: Any) -> Verdict:
    """For each job: "gather" (waiting) or "processes" (computing)."""
    given = _tidy(given)
    need_choices(given, EX02_RIGHT, "choices", ("gather", "processes"))
    for job, pick in given.items():
        if pick != EX02_RIGHT[job] and EX02_RIGHT[job] == "processes":
            return hint(f"'{job}' is CPU work. gather only overlaps waiting; CPU work runs "
                         "one task at a time on the loop (section 3)")
        if pick != EX02_RIGHT[job]:
            return hint(f"'{job}' is mostly waiting. Waiting needs no extra core, so one "
                         "event loop overlaps all the waits for free (section 2)")
    return ok("waiting -> concurrency, computing -> parallelism")


def _burn_ms(ms: float) -> None:
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


@judged
def ex02_prediction(predicted: Any) -> Verdict:
    """Four tasks under gather: each waits 100 ms, then computes 50 ms on the loop."""
    predicted = need_positive_ms(predicted, "predicted_ms")

    async def step():
        await asyncio.sleep(0.1)
        _burn_ms(50)

    async def trial():
        with record() as tl:
            await asyncio.gather(*(asyncio.create_task(step(), name=f"task {i + 1}")
                                   for i in range(4)))
        return tl.wall_ms, tl.summary().loop_busy_ms

    wall, busy = run_learner(trial, "the experiment")
    measured = f"measured {wall:.0f} ms, of which the loop was busy {busy:.0f} ms"
    if predicted < 10:
        return hint(f"{measured}. predicted_ms is in milliseconds: {predicted:g} ms is less "
                     "than one wait; did you write seconds?")
    # the answer, and each misconception's number: an answer must be closer to the right one
    nearest = min(PREDICTIONS, key=lambda ms: abs(predicted - ms))
    if nearest == RIGHT_MS:
        return ok(f"{measured}: one wait, then the four jobs in turn")
    return hint(f"{measured}. {PREDICTIONS[nearest]}")


#: Exercise 2: one wait (they overlap) plus all the work (it does not).
RIGHT_MS = 100 + 4 * 50
#: Each misconception's answer, and the hint that names it.
PREDICTIONS = {
    RIGHT_MS: "",
    100 + 50: "The waits overlap, but the CPU work does not: each task's 50 ms runs on the "
              "one loop thread, in turn (section 3), so the work adds up to 4 x 50 ms",
    4 * 50: "The work adds up to 4 x 50 ms, but it can only start once the waits end: the "
            "100 ms wait comes first (the waits overlap, so it costs one wait)",
    4 * 100: "Under gather the four 100 ms waits overlap: they cost one wait, not four. And "
             "the 4 x 50 ms of work still runs on the loop, in turn",
    4 * (100 + 50): "Under gather the four 100 ms waits overlap: they cost about one wait, "
                    "not four (section 2); only the CPU work runs in turn",
}
