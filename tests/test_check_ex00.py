"""asynclab.check.ex00: the checks of notebook 00 (start here)."""

import asyncio
import gc

import asynclab.check as check
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex00_concurrent():
    async def fetch_both(fetch):
        return await asyncio.gather(fetch("user"), fetch("orders"))

    async def task_group(fetch):  # another shape: a TaskGroup, a tuple of results
        async with asyncio.TaskGroup() as tg:
            user, orders = tg.create_task(fetch("user")), tg.create_task(fetch("orders"))
        return (user.result(), orders.result())

    async def tasks_then_awaits(fetch):  # both started first, then awaited one by one
        started = [asyncio.create_task(fetch(name)) for name in ("user", "orders")]
        return [await task for task in started]

    async def one_after_the_other(fetch):
        return [await fetch("user"), await fetch("orders")]

    async def forgot_await(fetch):
        return [fetch("user"), fetch("orders")]

    async def gather_not_awaited(fetch):
        return asyncio.gather(fetch("user"), fetch("orders"))

    async def tasks_not_awaited(fetch):
        return [asyncio.create_task(fetch("user")), asyncio.create_task(fetch("orders"))]

    async def wrong_order(fetch):
        return await asyncio.gather(fetch("orders"), fetch("user"))

    passes(check.ex00_concurrent(fetch_both))
    passes(check.ex00_concurrent(task_group))
    passes(check.ex00_concurrent(tasks_then_awaits))
    hints(check.ex00_concurrent(one_after_the_other), "one after the other", "gather")
    hints(check.ex00_concurrent(forgot_await), "coroutine objects", "await it")
    hints(check.ex00_concurrent(gather_not_awaited), "the gather itself", "await it")
    hints(check.ex00_concurrent(tasks_not_awaited), "tasks", "await it")
    hints(check.ex00_concurrent(wrong_order), "wrong order")


def test_ex00_concurrent_leaves_no_task_exception_unretrieved(capfd, caplog):
    """A task the answer starts and never awaits, failing or pending, is settled by the
    check: nothing reaches stderr or the log ("Task exception was never retrieved")."""
    async def fire_and_forget_fails(fetch):
        async def boom():
            raise KeyError("lost")
        asyncio.create_task(boom())
        return await asyncio.gather(fetch("user"), fetch("orders"))

    async def raises_with_tasks_pending(fetch):
        asyncio.create_task(fetch("user"))
        await asyncio.sleep(0)
        raise ValueError("midway")

    passes(check.ex00_concurrent(fire_and_forget_fails))
    hints(check.ex00_concurrent(raises_with_tasks_pending), "ValueError")
    hints(check.ex00_concurrent(gather_leaves_tasks), "the gather itself")
    gc.collect()
    err = capfd.readouterr().err
    assert "never retrieved" not in err and "Traceback" not in err, err
    assert "never retrieved" not in caplog.text and "destroyed" not in caplog.text, caplog.text


async def gather_leaves_tasks(fetch):
    return asyncio.gather(fetch("user"), fetch("orders"))


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
