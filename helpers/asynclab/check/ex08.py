"""The checks of notebook 08 · Capstone."""

from __future__ import annotations

import asyncio
from typing import Any

from .core import (
    Stop,
    Verdict,
    close_coroutines,
    hint,
    is_number,
    judged,
    need_function,
    ok,
    run_learner,
)


@judged
def ex08_charge(fn: Any) -> Verdict:
    """``charge(budget, tokens)``: ten agents charge 30 of a 100-token budget; never overspend."""
    what = "charge(budget, tokens), an async def"
    need_function(fn, what, is_async=True)

    async def trial():
        budget = {"limit": 100, "spent": 0, "lock": asyncio.Lock()}
        granted = await asyncio.gather(*(fn(budget, 30) for _ in range(10)))
        return budget["spent"], sum(bool(g) for g in granted)

    spent, granted = run_learner(trial, what)
    if not is_number(spent):
        return hint(f"budget['spent'] must stay a number of tokens, got {spent!r}")
    if spent > 100:
        return hint(f"{granted} charges granted, {spent} of 100 tokens spent: the check "
                     "and the update must happen under the same `async with budget['lock']`")
    if granted != 3 or spent != 90:
        return hint(f"expected 3 charges of 30 granted (90 tokens), got {granted} ({spent}): "
                     "return True and add the tokens when they fit, else return False")
    return ok("never overspent")


@judged
def ex08_polite(fn: Any) -> Verdict:
    """``polite_complete(llm, prompt)``: 12 calls against a rate-limited, flaky model."""
    from ..llm import RateLimited, ServerError, SimulatedLLM

    what = "polite_complete(llm, prompt), an async def"
    need_function(fn, what, is_async=True)

    async def trial():
        llm = SimulatedLLM(seed=2, time_scale=0.02, rpm=600, burst=3, error_rate=0.2)
        try:
            answers = await asyncio.gather(*(fn(llm, f"q{i}") for i in range(12)))
        except (RateLimited, ServerError) as exc:
            raise Stop(hint(f"{type(exc).__name__} escaped: catch it and retry "
                              "(10 attempts)")) from None
        return answers, llm.stats()["rate_limited"]

    answers, n429 = run_learner(trial, what)
    if close_coroutines(*answers):
        return hint("you returned a coroutine: await llm.complete(...)")
    if any(a is None or not getattr(a, "text", None) for a in answers):
        return hint("return the Completion from llm.complete")
    if n429 > 2 * (12 - 3):  # the first wave rejects 9; honouring Retry-After adds few more
        return hint(f"{n429} 429s, more than twice the first wave's 9: sleep "
                     "e.retry_after, not a fixed time")
    return ok("every answer, few 429s after the first wave")
