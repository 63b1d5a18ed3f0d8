"""asynclab.check.ex08: the checks of notebook 08 (the capstone)."""

import asyncio
import random

import asynclab.check as check
import pytest
from test_check_core import (
    hangs,
    hints,
    not_implemented,
    passes,
    raises,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)

NEW_ASYNC_CHECKS = [check.ex08_charge, check.ex08_polite]


@pytest.mark.parametrize("ex", NEW_ASYNC_CHECKS, ids=lambda f: f.__name__)
def test_capstone_checks_turn_learner_errors_into_hints(ex):
    unanswered(ex(None))
    unanswered(ex(not_implemented))
    hints(ex(raises), "KeyError")
    hints(ex(hangs), "did not finish")
    hints(ex(42), "pass the function itself")
    hints(ex(lambda *a, **k: None), "async def")


async def audit():
    await asyncio.sleep(0.001)


def test_ex08_charge():
    async def charge(budget, tokens):
        async with budget["lock"]:
            if budget["spent"] + tokens > budget["limit"]:
                return False
            await audit()
            budget["spent"] += tokens
            return True

    async def no_lock(budget, tokens):
        if budget["spent"] + tokens > budget["limit"]:
            return False
        await audit()
        budget["spent"] += tokens
        return True

    async def lock_only_the_update(budget, tokens):
        if budget["spent"] + tokens > budget["limit"]:
            return False
        await audit()
        async with budget["lock"]:
            budget["spent"] += tokens
        return True

    async def never_grants(budget, tokens):
        return False

    passes(check.ex08_charge(charge))
    hints(check.ex08_charge(no_lock), "same `async with budget['lock']`")
    hints(check.ex08_charge(lock_only_the_update), "same `async with budget['lock']`")
    hints(check.ex08_charge(never_grants), "expected 3 charges")


def test_ex08_polite():
    from asynclab.llm import RateLimited, ServerError

    async def polite_complete(llm, prompt):
        for attempt in range(10):
            try:
                return await llm.complete(prompt, max_tokens=8)
            except RateLimited as e:
                if attempt == 9:
                    raise
                await asyncio.sleep(e.retry_after)
            except ServerError:
                if attempt == 9:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))

    async def no_retry(llm, prompt):
        return await llm.complete(prompt, max_tokens=8)

    async def fixed_pause(llm, prompt):
        for _ in range(100):
            try:
                return await llm.complete(prompt, max_tokens=8)
            except (RateLimited, ServerError):
                await asyncio.sleep(0.001)
        return None

    async def forgets_the_answer(llm, prompt):
        await polite_complete(llm, prompt)

    passes(check.ex08_polite(polite_complete))
    hints(check.ex08_polite(no_retry), "escaped", "retry")
    hints(check.ex08_polite(fixed_pause), "retry_after")
    hints(check.ex08_polite(forgets_the_answer), "return the Completion")
