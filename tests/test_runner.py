import asyncio
import threading
import time

import asynclab
import pytest


async def add(a, b, delay=0.0):
    await asyncio.sleep(delay)
    return a + b


async def fail():
    await asyncio.sleep(0)
    raise ValueError("boom")


def test_run_returns_the_result_without_a_running_loop():
    assert asynclab.run(add(2, 3)) == 5


def test_run_raises_the_coroutines_exception():
    with pytest.raises(ValueError, match="boom"):
        asynclab.run(fail())


def test_run_inside_a_running_loop_uses_a_fresh_loop_in_a_thread():
    seen = {}

    async def where():
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        return 7

    async def cell():  # what a notebook cell is: code on an already running loop
        outer = asyncio.get_running_loop()
        assert asynclab.run(where()) == 7
        return outer

    outer = asyncio.run(cell())
    assert seen["thread"] == "asynclab.run"
    assert seen["loop"] is not outer
    assert seen["loop"].is_closed()


def test_run_inside_a_running_loop_propagates_exceptions():
    async def cell():
        with pytest.raises(ValueError, match="boom"):
            asynclab.run(fail())

    asyncio.run(cell())


def test_run_cancels_leftover_tasks_and_leaves_no_thread():
    leftovers = []

    async def spawn():
        leftovers.append(asyncio.create_task(asyncio.sleep(30)))
        await asyncio.to_thread(time.sleep, 0.01)

    async def cell():
        asynclab.run(spawn())

    asyncio.run(cell())
    assert leftovers[0].cancelled()


@pytest.mark.parametrize("in_loop", [False, True])
def test_run_timeout_cancels_the_experiment(in_loop):
    cleaned = []

    async def slow():
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append(True)

    async def cell():
        return asynclab.run(slow(), timeout=0.05)

    start = time.perf_counter()
    with pytest.raises(asynclab.ExperimentTimeout, match="timeout=0.05"):
        asyncio.run(cell()) if in_loop else asynclab.run(slow(), timeout=0.05)
    assert time.perf_counter() - start < 5
    assert cleaned == [True]


def test_a_timeout_error_of_the_experiment_itself_is_not_renamed():
    async def own():
        raise TimeoutError("mine")

    with pytest.raises(TimeoutError, match="mine") as info:
        asynclab.run(own())
    assert not isinstance(info.value, asynclab.ExperimentTimeout)


@pytest.mark.parametrize(
    "arg, kind, message",
    [
        (add, TypeError, r"call it: pass add\(...\)"),
        (None, TypeError, "coro must be a coroutine object"),
        (42, TypeError, "coro must be a coroutine object"),
    ],
)
def test_run_rejects_what_is_not_a_coroutine(arg, kind, message):
    with pytest.raises(kind, match=message):
        asynclab.run(arg)


@pytest.mark.parametrize("timeout", [0, -1, 1e9, float("nan"), "5", True])
def test_run_rejects_bad_timeouts_before_starting(timeout):
    started = []

    async def work():
        started.append(1)

    with pytest.raises((TypeError, ValueError), match="timeout"):
        asynclab.run(work(), timeout=timeout)
    assert started == []


def test_run_still_uses_a_fresh_closed_loop_after_nest_asyncio2_patched_asyncio():
    # nest_asyncio2.apply() cannot be undone, so this runs in a child interpreter.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import asyncio, threading, nest_asyncio2, asynclab

        async def where():
            return threading.current_thread().name, asyncio.get_running_loop()

        async def cell():
            nest_asyncio2.apply()
            outer = asyncio.get_running_loop()
            name, loop = asynclab.run(where())
            assert name == "asynclab.run", name
            assert loop is not outer and loop.is_closed()
            print("ok")

        asyncio.run(cell())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
