"""The checks of notebook 08 · Capstone: a charge under a lock held across an await; keep."""

from __future__ import annotations

import asyncio
from typing import Any

from .core import (
    Stop,
    Verdict,
    call_learner,
    close_coroutines,
    hint,
    is_number,
    judged,
    need_function,
    ok,
    run_learner,
)

__all__ = ["ex08_charge", "ex08_keep"]

_AUDIT = "audit"  # the name of the notebook's audit coroutine function


@judged
def ex08_charge(fn: Any) -> Verdict:
    """``charge(budget, tokens)``: ten agents charge 30 of a 100-token budget; never
    overspend, and ``await audit()`` between the check and the update, under the lock."""
    what = "charge(budget, tokens), an async def"
    need_function(fn, what, is_async=True)
    space = getattr(fn, "__globals__", {})
    watched = callable(space.get(_AUDIT))  # the notebook's audit() is defined: watch it
    seen: list[tuple[bool, Any]] = []  # at each audit: was the lock held, what was spent

    async def trial():
        budget = {"limit": 100, "spent": 0, "lock": asyncio.Lock()}

        async def audit():  # the notebook's audit, watched: what holds when it runs
            seen.append((budget["lock"].locked(), budget["spent"]))
            await asyncio.sleep(0.001)

        original = space.get(_AUDIT)
        if watched:
            space[_AUDIT] = audit
        try:
            granted = await asyncio.gather(*(fn(budget, 30) for _ in range(10)))
        finally:
            if watched:
                space[_AUDIT] = original
        return budget["spent"], sum(bool(g) for g in granted)

    spent, granted = run_learner(trial, what)
    if not is_number(spent):
        return hint(f"budget['spent'] must stay a number of tokens, got {spent!r}")
    if spent > 100:
        return hint(f"{granted} charges granted, {spent} of 100 tokens spent: the check "
                    "and the update must happen under the same `async with budget['lock']`, "
                    "with the await audit() inside it")
    if granted != 3 or spent != 90:
        return hint(f"expected 3 charges of 30 granted (90 tokens), got {granted} ({spent}): "
                    "return True and add the tokens when they fit, else return False")
    if not watched:
        return hint("run the exercise's cell that defines audit(), and await audit() in charge")
    if len(seen) < 3:
        return hint("await audit() between the check and the update, for every charge "
                    "granted: that await is what lets other agents run in between, the "
                    "race the lock must guard against")
    if not all(held for held, _ in seen):
        return hint("audit() ran while budget['lock'] was free: hold the lock across the "
                    "check, the await audit() and the update")
    audited = [s for _, s in seen]
    if audited[:3] != [0, 30, 60]:
        return hint(f"at each audit the budget had {audited} spent: await audit() after "
                    "the check and before the update")
    return ok("never overspent; the lock was held across the audit")


@judged
def ex08_keep(fn: Any) -> Verdict:
    """``keep(tasks)``: the name and result of each task that finished with a result."""
    what = "keep(tasks), a plain def"
    need_function(fn, what, is_async=False)
    tasks = run_learner(_ended_group, "the check's own tasks")
    expected = {"researcher 1": {"summary": "loops"}, "analyst": [("planner", 210.5)],
                "legacy desk": 0}
    try:
        try:
            kept = call_learner(fn, what, dict(tasks))
        except asyncio.CancelledError:
            return hint("task.result() of a cancelled task raises CancelledError (and so "
                        "does task.exception()): skip the tasks for which task.cancelled()")
        except Stop as stop:
            if "researcher 2" in stop.verdict.message or "ValueError" in stop.verdict.message:
                return hint("task.result() of a task that failed re-raises its error: skip "
                            "the tasks whose task.exception() is not None")
            raise
    finally:
        for t in tasks.values():
            if not t.cancelled():
                t.exception()  # retrieved: no "Task exception was never retrieved"
    if close_coroutines(kept):
        return hint("keep is a plain def: return the dict, not a coroutine")
    if not isinstance(kept, dict):
        return hint(f"return a dict of name -> result, got a {type(kept).__name__}")
    if any(isinstance(v, asyncio.Task) for v in kept.values()):
        return hint("return each task's result (task.result()), not the task")
    if any(isinstance(v, BaseException) for v in kept.values()):
        return hint("leave out the tasks that failed: their exception is not a result")
    if sorted(set(expected) - set(kept)) == ["legacy desk"]:
        return hint("legacy desk finished with the result 0: a result can be falsy; test "
                    "for failure and cancellation, not for truth")
    if kept != expected:
        missing = sorted(set(expected) - set(kept))
        extra = sorted(set(kept) - set(expected))
        return hint(f"expected the 3 tasks that finished with a result, {sorted(expected)}; "
                    f"missing {missing}, not wanted {extra}" if missing or extra else
                    f"the results must be the tasks' own results, got {kept!r}")
    return ok("kept the 3 finished results; left out the failed and the cancelled")


async def _ended_group() -> dict[str, asyncio.Task]:
    """Tasks as a deadline leaves them: three finished, one failed, two cancelled."""
    async def answer(value, delay=0.0):
        await asyncio.sleep(delay)
        return value

    async def fails():
        raise ValueError("503 overloaded")

    tasks = {"researcher 1": asyncio.create_task(answer({"summary": "loops"})),
             "researcher 2": asyncio.create_task(fails()),
             "researcher 3": asyncio.create_task(answer("late", 10)),
             "analyst": asyncio.create_task(answer([("planner", 210.5)])),
             "legacy desk": asyncio.create_task(answer(0)),
             "writer": asyncio.create_task(answer("late", 10))}
    await asyncio.sleep(0.01)
    for t in tasks.values():
        t.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    return tasks
