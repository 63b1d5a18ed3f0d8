"""The checks of notebook 01 · The event loop."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from ..recorder import record
from .core import (
    Verdict,
    close_coroutines,
    hint,
    judged,
    need_function,
    ok,
    run_learner,
    todo,
)

#: The bare yields of tasks A, B, C, as the exercise states them (kept equal by
#: tests/test_check_fixtures.py).
EX01_YIELDS = {"A": 1, "B": 3, "C": 2}


async def _hopper(yields: int) -> None:
    for _ in range(yields):
        await asyncio.sleep(0)


@judged
def ex01_order(predicted: Any) -> Verdict:
    """Predict the order of steps of tasks A, B, C yielding 1, 3 and 2 times."""
    if predicted is None:
        return todo("set predicted_order to the task names in the order their steps run, "
                     "like 'A B C ...'")
    names = set(EX01_YIELDS)
    if isinstance(predicted, str):
        # Tokens are the runs of letters: "A B C", "a,b,c", "A -> B" or "ABC" all name
        # tasks; a word such as "back" or "then" is not a task name, so it is refused
        # rather than mined for the letters it happens to contain.
        tokens = re.findall(r"[^\W\d_]+", predicted)
        strays = [token for token in tokens if not set(token.upper()) <= names]
        guess = [letter for token in tokens for letter in token.upper()]
    elif isinstance(predicted, list | tuple) and all(isinstance(p, str) for p in predicted):
        guess = [p.strip().upper() for p in predicted]
        strays = [p for p in predicted if p.strip().upper() not in names]
    else:
        return hint(f"give the order as a string 'A B C ...' or a list of names, "
                     f"got {type(predicted).__name__}")
    if strays:
        return hint(f"write only the task names A, B and C, in the order their steps run "
                     f"(like 'A B C ...'); not {', '.join(map(repr, strays))}")

    async def trial():
        with record() as tl:
            await asyncio.gather(*(asyncio.create_task(_hopper(n), name=name)
                                   for name, n in EX01_YIELDS.items()))
        return tl.order()

    real = run_learner(trial, "the experiment")
    shown = " ".join(real)
    if guess == real:
        return ok(f"recorded {shown}: strict turns, and each task leaves when it is done")
    counts = {name: guess.count(name) for name in EX01_YIELDS}
    if counts != {name: n + 1 for name, n in EX01_YIELDS.items()}:
        return hint("count the steps first: a task takes one step per bare yield, plus the "
                     "last stretch from its final yield to its end (section 4)")
    if guess == sorted(guess):
        return hint("a bare yield hands the loop back: the others run in between, so a task "
                     "never runs all its steps in a row while others are ready")
    return hint("the ready queue is first-in, first-out: a task that yields goes to the "
                 "back, behind every task already ready (section 5). Recorded: " + shown)


def _compute(n: int, log: list[str], seconds: float = 0.02) -> int:
    log.append(f"compute {n} start")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    log.append(f"compute {n} end")
    return n * n


@judged
def ex01_yielding(fn: Any) -> Verdict:
    """``async def two_computations(compute)``: let other tasks run between two computations."""
    what = "two_computations(compute), an async def returning [compute(1), compute(2)]"
    need_function(fn, what, is_async=True)

    async def trial():
        log: list[str] = []
        done = False

        async def other():
            while not done:
                log.append("other")
                await asyncio.sleep(0)

        with record() as tl:
            ticker = asyncio.create_task(other(), name="other")
            try:
                got = await asyncio.create_task(fn(lambda n: _compute(n, log)), name="yours")
            finally:
                done = True
                await ticker
        return got, log, tl.task("yours").steps

    got, log, steps = run_learner(trial, what)
    if close_coroutines(got):
        return hint("you returned a coroutine: compute is a plain function, call it")
    if not isinstance(got, list | tuple) or list(got) != [1, 4]:
        return hint(f"return [compute(1), compute(2)]; got {got!r}")
    try:
        between = log[log.index("compute 1 end"):log.index("compute 2 start")]
    except ValueError:
        return hint("call compute(1), then compute(2), once each")
    if "other" not in between:
        return hint(f"your task ran in {steps} step(s) and no other task ran between the two "
                     "computations. Only an await that suspends hands the loop back: "
                     "`await asyncio.sleep(0)` between them (awaiting a coroutine that does "
                     "not suspend is a plain call, section 4)")
    return ok(f"your task took {steps} steps, and the other task ran "
                 f"{between.count('other')} time(s) between the computations")
