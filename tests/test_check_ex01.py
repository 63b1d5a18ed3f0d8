"""asynclab.check.ex01: the checks of notebook 01 (the event loop)."""

import asyncio

import asynclab.check as check
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex01_order():
    passes(check.ex01_order("A B C A B C B C B"))
    passes(check.ex01_order(list("ABCABCBCB")))
    hints(check.ex01_order("A A B B B B C C C"), "others run in between")
    hints(check.ex01_order("A B C A B C"), "count the steps")
    hints(check.ex01_order("A B C B C A B C B"), "first-in, first-out")


def test_ex01_yielding():
    async def two_computations(compute):
        first = compute(1)
        await asyncio.sleep(0)
        second = compute(2)
        return [first, second]

    async def no_yield(compute):
        return [compute(1), compute(2)]

    async def no_suspend():
        return None

    async def await_that_does_not_suspend(compute):
        first = compute(1)
        await no_suspend()
        return [first, compute(2)]

    passes(check.ex01_yielding(two_computations))
    hints(check.ex01_yielding(no_yield), "asyncio.sleep(0)")
    hints(check.ex01_yielding(await_that_does_not_suspend), "does not suspend")
