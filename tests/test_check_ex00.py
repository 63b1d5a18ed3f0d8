"""asynclab.check.ex00: the checks of notebook 00 (start here)."""

import asyncio

import asynclab.check as check
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex00_concurrent():
    async def fetch_both(fetch):
        return await asyncio.gather(fetch("user"), fetch("orders"))

    async def one_after_the_other(fetch):
        return [await fetch("user"), await fetch("orders")]

    async def forgot_await(fetch):
        return [fetch("user"), fetch("orders")]

    passes(check.ex00_concurrent(fetch_both))
    hints(check.ex00_concurrent(one_after_the_other), "one after the other", "gather")
    hints(check.ex00_concurrent(forgot_await), "coroutine objects")


def test_ex00_bridge():
    def answer(main):
        return asynclab_run(main())

    def tutorial(main):
        return asyncio.run(main())

    def no_call(main):
        return asynclab_run(main)

    def only_a_plan(main):
        return main()

    passes(check.ex00_bridge(answer))
    hints(check.ex00_bridge(tutorial), "asyncio.run", "already running", "asynclab.run")
    hints(check.ex00_bridge(no_call), "call main()")
    hints(check.ex00_bridge(only_a_plan), "coroutine object")


def asynclab_run(coro):
    import asynclab

    return asynclab.run(coro)
