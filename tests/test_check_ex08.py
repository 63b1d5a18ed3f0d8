"""asynclab.check.ex08: the checks of notebook 08 (the capstone)."""

import asyncio

import asynclab.check as check
import pytest
from asynclab.check import ex08
from test_check_core import (
    hangs,
    hints,
    not_implemented,
    passes,
    raises,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)

NEW_ASYNC_CHECKS = [check.ex08_charge, check.ex08b_polite]
keep_check = ex08.ex08_keep


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

    async def no_audit(budget, tokens):  # no await, no race: but not what was asked
        if budget["spent"] + tokens > budget["limit"]:
            return False
        budget["spent"] += tokens
        return True

    async def audit_outside_the_lock(budget, tokens):
        async with budget["lock"]:
            if budget["spent"] + tokens > budget["limit"]:
                return False
            budget["spent"] += tokens
        await audit()
        return True

    async def update_then_audit(budget, tokens):
        async with budget["lock"]:
            if budget["spent"] + tokens <= budget["limit"]:
                budget["spent"] += tokens
                await audit()
                return True
        return False

    async def other_shape(budget, tokens):  # acquire/release by hand, early-out inverted
        await budget["lock"].acquire()
        try:
            fits = tokens <= budget["limit"] - budget["spent"]
            if fits:
                await audit()
                budget["spent"] = budget["spent"] + tokens
            return fits
        finally:
            budget["lock"].release()

    passes(check.ex08_charge(charge))
    hints(check.ex08_charge(no_lock), "same `async with budget['lock']`")
    hints(check.ex08_charge(lock_only_the_update), "same `async with budget['lock']`")
    hints(check.ex08_charge(never_grants), "expected 3 charges")
    hints(check.ex08_charge(no_audit), "for every charge granted")
    hints(check.ex08_charge(audit_outside_the_lock), "was free")
    hints(check.ex08_charge(update_then_audit), "before the update")
    passes(check.ex08_charge(other_shape))



def test_ex08_keep():
    import asyncio as aio

    def reference(tasks):
        return {name: t.result() for name, t in tasks.items()
                if t.done() and not t.cancelled() and t.exception() is None}

    def with_try(tasks):  # another shape: try each result
        out = {}
        for name, task in tasks.items():
            try:
                out[name] = task.result()
            except (aio.CancelledError, Exception):
                continue
        return out

    def everything(tasks):
        return {name: t.result() for name, t in tasks.items()}

    def skips_cancelled_only(tasks):
        return {n: t.result() for n, t in tasks.items() if not t.cancelled()}

    def exception_first(tasks):  # t.exception() of a cancelled task raises too
        return {n: t.result() for n, t in tasks.items() if t.exception() is None}

    def truthy(tasks):
        return {n: r for n, t in tasks.items()
                if not t.cancelled() and t.exception() is None and (r := t.result())}

    def a_list(tasks):
        return [t.result() for t in tasks.values() if not t.cancelled() and t.exception() is None]

    def the_tasks(tasks):
        return {n: t for n, t in tasks.items() if not t.cancelled() and t.exception() is None}

    passes(keep_check(reference))
    passes(keep_check(with_try))
    hints(keep_check(everything), "re-raises")
    hints(keep_check(skips_cancelled_only), "failed re-raises")
    hints(keep_check(exception_first), "cancelled")
    hints(keep_check(truthy), "falsy")
    hints(keep_check(a_list), "dict")
    hints(keep_check(the_tasks), "not the task")
    unanswered(keep_check(None))
    hints(keep_check(lambda tasks: tasks.nope), "AttributeError")
