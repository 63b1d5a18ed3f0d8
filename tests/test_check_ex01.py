"""asynclab.check.ex01: the checks of notebook 01 (the event loop)."""

import asyncio
import time

import asynclab.check as check
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex01_order():
    passes(check.ex01_order("A B C A B C B C B"))
    passes(check.ex01_order(list("ABCABCBCB")))
    # the same answer written otherwise: any case, any separators, no spaces, a tuple
    passes(check.ex01_order("a b c a b c b c b"))
    passes(check.ex01_order("A, B, C, A, B, C, B, C, B"))
    passes(check.ex01_order("a -> b -> c -> a -> b -> c -> b -> c -> b"))
    passes(check.ex01_order("ABCABCBCB"))
    passes(check.ex01_order(("a ", "B", "c", "A", "b", "C", "b", "c", "B")))
    hints(check.ex01_order("A A B B B B C C C"), "others run in between")
    hints(check.ex01_order("a a b b b b c c c"), "others run in between")
    hints(check.ex01_order("A B C A B C"), "count the steps")
    hints(check.ex01_order("A B C B C A B C B"), "first-in, first-out")
    hints(check.ex01_order("a b c b c a b c b"), "first-in, first-out")
    # words are not mined for letters: "back" is not the task names B, A, C
    hints(check.ex01_order("A B C A B C B C B, then back to A"), "only the task names",
          "'then'", "'back'")
    hints(check.ex01_order(["A", "B", "task C"]), "only the task names", "'task C'")
    hints(check.ex01_order(3), "string")


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

    async def loop_with_a_short_sleep(compute):  # another shape: a loop, a real short wait
        results = []
        for n in (1, 2):
            results.append(compute(n))
            await asyncio.sleep(0.001)
        return tuple(results)

    async def time_sleep_between(compute):  # time.sleep blocks the loop: nobody else runs
        first = compute(1)
        time.sleep(0)
        return [first, compute(2)]

    passes(check.ex01_yielding(two_computations))
    passes(check.ex01_yielding(loop_with_a_short_sleep))
    hints(check.ex01_yielding(time_sleep_between), "asyncio.sleep(0)")
    hints(check.ex01_yielding(no_yield), "asyncio.sleep(0)")
    hints(check.ex01_yielding(await_that_does_not_suspend), "does not suspend")
