"""The checks of notebook 00 · Start here."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ..recorder import record
from ..runner import ExperimentTimeout, run
from . import core
from .core import (
    Verdict,
    close_coroutines,
    closing,
    hint,
    judged,
    need_function,
    ok,
    raised,
    run_learner,
    todo,
)


@judged
def ex00_concurrent(fn: Any) -> Verdict:
    """``async def fetch_both(fetch)``: both fetches at once, results as [user, orders]."""
    what = "fetch_both(fetch), an async def that awaits fetch('user') and fetch('orders')"
    need_function(fn, what, is_async=True)
    latency = 0.1
    waited: dict[str, tuple[float, float]] = {}  # name -> (start, end) of its wait, in s

    async def fetch(name):
        start = time.perf_counter()
        await asyncio.sleep(latency)
        waited[name] = (start, time.perf_counter())
        return f"data for {name}"

    async def trial():
        # Every task made during the trial is kept, so that none is left pending or with an
        # exception nobody retrieved ("Task exception was never retrieved" on stderr).
        loop = asyncio.get_running_loop()
        made: list[asyncio.Future] = []

        def keep(loop, coro, **kwargs):
            made.append(asyncio.Task(coro, loop=loop, **kwargs))
            return made[-1]

        loop.set_task_factory(keep)
        got = None
        try:
            with record() as tl:
                got = await fn(fetch)
            return got, tl.wall_ms, _unfinished(got)
        finally:
            loop.set_task_factory(None)
            await _settle(made + _futures(got))

    got, wall_ms, unfinished = run_learner(trial, what)
    if close_coroutines(got, *(got if isinstance(got, list | tuple) else ())):
        return hint("you returned coroutine objects, not results: calling fetch('user') only "
                     "makes a plan; await it (or hand it to gather, and await that)")
    if unfinished:
        return hint(f"you returned {unfinished}, not results: a task or a gather is a promise "
                     "of a result; await it, as in `return await asyncio.gather(...)`")
    got = list(got) if isinstance(got, list | tuple) else got
    if got == ["data for orders", "data for user"]:
        return hint("results in the wrong order: gather returns them in the order you passed "
                     "the coroutines, whatever order they finish in")
    if got != ["data for user", "data for orders"]:
        return hint(f"return both results as [user, orders]; got {got!r}")
    # Together, the two waits overlap for a whole wait; one after the other, not at all.
    # Closer to the first (more than half a wait in common), however late a busy machine
    # wakes them both.
    (start_u, end_u), (start_o, end_o) = waited["user"], waited["orders"]
    overlap_ms = (min(end_u, end_o) - max(start_u, start_o)) * 1e3
    if overlap_ms < latency * 1e3 / 2:
        return hint(f"took {wall_ms:.0f} ms for two {latency * 1e3:.0f} ms waits, which never "
                     "overlapped: you awaited them one after the other. Start both, then wait "
                     "once: asyncio.gather")
    return ok(f"two {latency * 1e3:.0f} ms waits in {wall_ms:.0f} ms: they overlapped for "
              f"{overlap_ms:.0f} ms")


def _futures(got: Any) -> list[asyncio.Future]:
    values = got if isinstance(got, list | tuple) else (got,)
    return [value for value in values if asyncio.isfuture(value)]


def _unfinished(got: Any) -> str:
    """What the learner returned instead of results: tasks or futures (a gather not awaited)."""
    futures = _futures(got)
    if not futures:
        return ""
    if any(isinstance(f, asyncio.Task) for f in futures):
        return "tasks"
    return "the gather itself (a future)"


async def _settle(futures: list[asyncio.Future]) -> None:
    """Cancel what is still pending and retrieve every outcome, so nothing is logged."""
    for future in futures:
        if not future.done():
            future.cancel()
    await asyncio.gather(*futures, return_exceptions=True)


@judged
def ex00_bridge(fn: Any) -> Verdict:
    """``def answer(main)``: a plain function that runs ``main()`` and returns its result."""
    what = "answer(main), a plain def that runs main() and returns its result"
    need_function(fn, what, is_async=False,
                   not_plain="answer must be a plain `def`: code that cannot await (a widget "
                             "callback, a library hook) is exactly where you need a bridge")

    async def _main():
        await asyncio.sleep(0.01)
        return 42

    made = []

    def main():  # an async function to the learner; it remembers the coroutines it made
        made.append(_main())
        return made[-1]

    async def trial():  # like a notebook cell: a loop is already running in this thread
        return fn(main)

    try:
        got = closing(made, run, trial(), timeout=core.TIMEOUT)
    except NotImplementedError:
        return todo(f"write {what}")
    except ExperimentTimeout:
        return hint(f"answer did not return within {core.TIMEOUT:g} s")
    except RuntimeError as exc:
        return hint(f"{raised(exc)}. asyncio.run (and run_until_complete) cannot start a loop "
                     "inside one that is already running, as in a notebook cell (section 4): "
                     "use asynclab.run(main())")
    except TypeError as exc:
        return hint(f"{raised(exc)}. Pass a coroutine object: call main(), then run it")
    except Exception as exc:
        return hint(raised(exc))
    if close_coroutines(got):
        return hint("you returned the coroutine object main() without running it: it is a "
                     "plan; asynclab.run(main()) runs it and gives back its result")
    if got != 42:
        return hint(f"return main()'s result; got {got!r}")
    return ok("main() ran to the end on a fresh loop, from code that cannot await")
