"""The check of notebook 08b · Capstone, part 2: a polite call through the OpenAI SDK."""

from __future__ import annotations

import asyncio
import contextvars
import time
from typing import Any

from .core import (
    Verdict,
    close_coroutines,
    hint,
    judged,
    need_function,
    ok,
    raised,
    run_learner,
    todo,
)

__all__ = ["ex08b_polite"]

POLITE_WINDOW = 0.05  # seconds: the check's rate-limit window (3 requests each)
JITTER = 0.1  # seconds: the most jitter the exercise asks for
_CALL: contextvars.ContextVar[int] = contextvars.ContextVar("asynclab_ex08b_call")


@judged
def ex08b_polite(fn: Any) -> Verdict:
    """``polite_complete(llm, model, prompt)``: 12 calls at once through the OpenAI SDK
    (``max_retries=0``) against a local model server allowing 3 requests per 0.05 s window
    that fails 20 % of its answers with a 5xx. Every call must be answered, no retry may
    come before the reset its 429 named, and on average they must come 20 ms or more after
    it (a jitter of up to 0.1 s puts the mean near 50 ms; waiting exactly, near 0)."""
    import openai

    from .. import modelserver

    what = "polite_complete(llm, model, prompt), an async def"
    need_function(fn, what, is_async=True)
    with modelserver.serve(rpm=3, error_rate=0.2, seed=0, time_scale=POLITE_WINDOW / 60,
                           ttft_median=0.5, ttft_p95=1.0, reply_tokens=4) as server:
        async def trial():
            async with openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key,
                                          max_retries=0) as llm:
                delays = _watch_requests(llm, openai.RateLimitError)

                async def call(i):
                    _CALL.set(i)  # the requests this task makes belong to call i
                    return await fn(llm, server.model, f"question {i}")

                await asyncio.sleep(server.until_next_window())
                answers = await asyncio.gather(*(call(i) for i in range(12)),
                                               return_exceptions=True)
                return answers, delays

        answers, delays = run_learner(trial, what)
        refused = server.stats()["rate_limited"]
    if close_coroutines(*answers):
        return hint("you returned a coroutine: await llm.chat.completions.create(...)")
    if any(isinstance(a, NotImplementedError) for a in answers):
        return todo(f"write {what}")
    for answer in answers:
        if isinstance(answer, openai.RateLimitError):
            return hint("RateLimitError escaped: catch openai.RateLimitError, sleep "
                        "retry_after(e) plus a jitter, and try again (10 attempts)")
        if isinstance(answer, openai.InternalServerError):
            return hint("InternalServerError (a 5xx) escaped: retry it too, after a random "
                        "backoff")
        if isinstance(answer, BaseException):
            return hint(f"{raised(answer)}. Read the exercise again: {what}")
    if not all(isinstance(a, str) and a for a in answers):
        return hint(f"return the reply's text, reply.choices[0].message.content, got "
                    f"{answers[0]!r:.80}")
    early = sum(d < -0.002 for d in delays)  # the header is rounded up to the ms
    if early:
        return hint(f"{early} retries came before the reset the server named: sleep "
                    "retry_after(e), the time the server names, before trying again")
    # The mean, not the median: over the 9 or more retries of a run, a jitter of up to
    # 0.1 s puts it near 50 ms and below 20 ms about once in a thousand runs (the median:
    # once in fifty); waiting exactly puts it near 0.
    late = sum(delays) / len(delays) if delays else 0.0
    if late < 0.2 * JITTER:
        return hint(f"the retries came back {late * 1e3:.0f} ms after the reset on average, "
                    "all together: add a jitter, random.uniform(0, 0.1), to the wait")
    return ok(f"all 12 answered; {refused} x 429, retries spread by jitter")


def _watch_requests(llm: Any, rate_limited: type) -> list[float]:
    """Watch each call's requests; return a list, filled as the calls run, of how long
    after the reset a 429 named each retry came (negative: before it)."""
    completions = llm.chat.completions
    create = completions.create
    due: dict[int, float] = {}  # call -> when its last 429 said it may come back
    delays: list[float] = []

    async def watched(*args: Any, **kwargs: Any) -> Any:
        call = _CALL.get(-1)
        if call in due:
            delays.append(time.perf_counter() - due.pop(call))
        try:
            return await create(*args, **kwargs)
        except rate_limited as e:
            wait = float(e.response.headers.get("retry-after-ms", 0)) / 1000
            due[call] = time.perf_counter() + wait
            raise

    completions.create = watched
    return delays
