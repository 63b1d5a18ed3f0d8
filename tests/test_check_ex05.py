"""asynclab.check.ex05: the checks of notebook 05 (task management)."""

import asyncio

import asynclab.check as check
from asynclab.check import ex05
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex05_retry():
    async def retry(tool, attempts=3):
        for attempt in range(attempts):
            try:
                return await tool()
            except Exception:
                if attempt == attempts - 1:
                    raise

    async def retries_cancellation(tool, attempts=3):
        for attempt in range(attempts):
            try:
                return await tool()
            except BaseException:
                if attempt == attempts - 1:
                    raise

    async def no_retry(tool, attempts=3):
        return await tool()

    async def swallows_last(tool, attempts=3):
        for _ in range(attempts):
            try:
                return await tool()
            except Exception:
                pass

    passes(check.ex05_retry(retry))
    hints(check.ex05_retry(retries_cancellation), "CancelledError")
    hints(check.ex05_retry(no_retry), "call the tool again")
    hints(check.ex05_retry(swallows_last), "re-raise the last error")


async def agent(name):
    async with asyncio.timeout(ex05.EX05_AGENT_DEADLINE):
        await asyncio.sleep(ex05.EX05_AGENT_LATENCY[name])
    if name == "coder":
        raise RuntimeError(f"{name}: tool call failed")
    return f"{name}: ok"


def test_ex05_collect():
    async def one(name, deadline):
        try:
            async with asyncio.timeout(deadline):
                return await agent(name)
        except TimeoutError:
            return "timed out"
        except Exception:
            return "failed"

    async def collect(names, deadline):
        results = await asyncio.gather(*(one(name, deadline) for name in names))
        return dict(zip(names, results, strict=True))

    async def sequential(names, deadline):
        return {name: await one(name, deadline) for name in names}

    async def plain_gather(names, deadline):
        results = await asyncio.gather(*(agent(name) for name in names))
        return dict(zip(names, results, strict=True))

    passes(check.ex05_collect(collect))
    hints(check.ex05_collect(sequential), "one after another")
    hints(check.ex05_collect(plain_gather), "return_exceptions=True")


async def search(tool):
    await asyncio.sleep(ex05.EX05_SEARCH_LATENCY[tool])
    return f"hits from {tool}"


def test_ex05_fastest():
    async def fastest(tools):
        tasks = [asyncio.create_task(search(tool)) for tool in tools]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return done.pop().result()

    async def waits_for_all(tools):
        results = await asyncio.gather(*(search(tool) for tool in tools))
        return min(results, key=lambda r: ex05.EX05_SEARCH_LATENCY[r[len("hits from "):]])

    async def leaves_them_running(tools):
        tasks = [asyncio.create_task(search(tool)) for tool in tools]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return done.pop().result()

    passes(check.ex05_fastest(fastest))
    hints(check.ex05_fastest(waits_for_all), "FIRST_COMPLETED")
    hints(check.ex05_fastest(leaves_them_running), "cancel the pending")


def test_ex05_fastest_accepts_other_correct_shapes():
    async def with_as_completed(tools):
        tasks = [asyncio.create_task(search(tool)) for tool in tools]
        try:
            for first in asyncio.as_completed(tasks):
                return await first
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def with_a_task_group(tools):
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(search(tool)) for tool in tools]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()  # the group awaits them all before the block ends
        return next(iter(done)).result()

    async def wait_for_the_cancelled(tools):
        tasks = {asyncio.create_task(search(t)) for t in tools}
        done, pending = await asyncio.wait(tasks, return_when="FIRST_COMPLETED")
        [t.cancel() for t in pending]
        await asyncio.wait(pending)
        return list(done)[0].result()

    passes(check.ex05_fastest(with_as_completed))
    passes(check.ex05_fastest(with_a_task_group))
    passes(check.ex05_fastest(wait_for_the_cancelled))


def test_ex05_fastest_names_cancelled_but_not_awaited(capfd):
    async def cancels_without_awaiting(tools):
        tasks = [asyncio.create_task(search(tool)) for tool in tools]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return done.pop().result()

    hints(check.ex05_fastest(cancels_without_awaiting), "cancelled but still running",
          "Await the cancelled tasks")
    err = capfd.readouterr().err
    assert "Traceback" not in err and "never retrieved" not in err


def test_ex05_retry_accepts_other_correct_shapes():
    async def while_loop(tool, attempts=3):
        left = attempts
        while True:
            try:
                return await tool()
            except asyncio.CancelledError:
                raise
            except BaseException:
                left -= 1
                if not left:
                    raise

    async def remembers_the_error(tool, attempts=3):
        error = None
        for _ in range(attempts):
            try:
                return await tool()
            except Exception as exc:
                error = exc
        raise error

    passes(check.ex05_retry(while_loop))
    passes(check.ex05_retry(remembers_the_error))


def test_ex05_collect_accepts_other_correct_shapes():
    async def with_return_exceptions(names, deadline):
        async def one(name):
            async with asyncio.timeout(deadline):
                return await agent(name)
        results = await asyncio.gather(*(one(n) for n in names), return_exceptions=True)
        return {n: "timed out" if isinstance(r, TimeoutError) else
                "failed" if isinstance(r, Exception) else r for n, r in zip(names, results, strict=True)}

    async def with_a_task_group_and_wait_for(names, deadline):
        async def one(name):
            try:
                return await asyncio.wait_for(agent(name), deadline)
            except asyncio.TimeoutError:  # noqa: UP041 (the older spelling, also correct)
                return "timed out"
            except RuntimeError:
                return "failed"
        async with asyncio.TaskGroup() as tg:
            tasks = {n: tg.create_task(one(n)) for n in names}
        return {n: t.result() for n, t in tasks.items()}

    passes(check.ex05_collect(with_return_exceptions))
    passes(check.ex05_collect(with_a_task_group_and_wait_for))
