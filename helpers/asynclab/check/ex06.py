"""The checks of notebook 06 · Thread and process pools."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest import mock

from ..runner import run
from ..workloads import usable_cores
from . import core
from .core import (
    Stop,
    Verdict,
    call_learner,
    close_coroutines,
    hint,
    judged,
    need_function,
    ok,
    todo,
)


@judged
def ex06_workers(n: Any) -> Verdict:
    """The fewest workers for 60 calls of 50 ms within 250 ms."""
    if n is None:
        return todo("set workers_needed to a number of workers")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        return hint(f"workers_needed must be a whole number of workers from 1 to 64, got {n!r}")
    waves = math.ceil(60 / n)
    if waves * 50 > 250:
        return hint(f"{n} workers need ceil(60/{n}) = {waves} waves of 50 ms = "
                     f"{waves * 50} ms. Each worker does one call at a time")
    if n > 1 and math.ceil(60 / (n - 1)) * 50 <= 250:
        return hint(f"{n} workers meet the target, but so would {n - 1}: the makespan is "
                     "ceil(J/N) x L, so it only drops when the number of waves drops")
    with ThreadPoolExecutor(max_workers=n) as pool:
        t0 = time.perf_counter()
        list(pool.map(time.sleep, [0.05] * 60))
        took = time.perf_counter() - t0
    return ok(f"{n} workers, {waves} waves, measured {took * 1e3:.0f} ms")


#: Core counts the check pretends the machine has, to see if the answer follows them:
#: (what os.cpu_count says, what os.process_cpu_count / the affinity says). A fake
#: machine of 40 cores shows the cap of 32; (8, 3) a process allowed 3 of 8 cores.
FAKE_MACHINES = ((3, 3), (40, 40), (8, 3))


@contextlib.contextmanager
def _pretend_cores(cpus: int, usable: int) -> Iterator[None]:
    """For the block: os.cpu_count() says ``cpus``; os.process_cpu_count() (3.13+) and
    os.sched_getaffinity(0) say ``usable``. Undone when the block ends, whatever happens."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(os, "cpu_count", lambda: cpus))
        if hasattr(os, "process_cpu_count"):
            stack.enter_context(mock.patch.object(os, "process_cpu_count", lambda: usable))
        if hasattr(os, "sched_getaffinity"):
            stack.enter_context(mock.patch.object(os, "sched_getaffinity",
                                                  lambda pid=0: set(range(usable))))
        yield


def _ident_when(go: threading.Event) -> int:
    go.wait(5)  # hold the thread until every call is submitted
    return threading.get_ident()


async def _threads_used(calls: int = 40) -> int:
    """How many threads a fresh loop's default executor uses for a burst of calls (what
    to_thread does: run_in_executor(None, ...)). Each call holds its thread until all are
    submitted, so a call never finds an idle thread and the pool grows to its size."""
    loop, go = asyncio.get_running_loop(), threading.Event()
    futures = [loop.run_in_executor(None, _ident_when, go) for _ in range(calls)]
    go.set()
    return len(set(await asyncio.gather(*futures)))


def _default_pool_size() -> int:
    """The default executor's size, counted (public behaviour, no private attribute)."""
    return run(_threads_used(), timeout=core.TIMEOUT)


def _answer(fn: Any, what: str, not_plain: str) -> Any:
    answer = call_learner(fn, what)
    if close_coroutines(answer):  # a plain callable that returned a coroutine
        raise Stop(hint(not_plain))
    if isinstance(answer, bool) or not isinstance(answer, int | float) or answer != int(answer):
        raise Stop(hint(f"return a whole number of calls, got {answer!r}"))
    return int(answer)


@judged
def ex06_slow_calls(fn: Any) -> Verdict:
    """``slow_calls_before_queueing()``: the default executor's size, read from the machine.

    The answer is called on this machine and on pretend machines (``os.cpu_count`` and
    friends patched for the call), and must equal the number of threads a fresh loop's
    default executor really uses there."""
    what = "slow_calls_before_queueing(), a plain function returning a number"
    not_plain = "make it a plain def that returns a number, not an async def"
    need_function(fn, what, is_async=False, not_plain=not_plain,
                   not_callable="pass the function itself: the answer must be computed from "
                                "the machine, not typed in")
    here = _answer(fn, what, not_plain)
    if here >= 10**3:
        return hint("to_thread does not start a thread per call; it uses the loop's default "
                     "executor. How big is it? (section 4)")
    if here != _default_pool_size():
        if here in (usable_cores(), os.cpu_count()):
            return hint("threads that wait need no core. The limit is the size of the pool "
                         "behind to_thread, not the number of cores")
        return hint(f"{here} is not the size of the loop's default executor on this machine "
                     "(section 4 reads it)")
    answers = {}
    for cpus, usable in FAKE_MACHINES:
        with _pretend_cores(cpus, usable):
            answers[cpus, usable] = (_answer(fn, what, not_plain), _default_pool_size())
    if len({a for a, _ in answers.values()}) == 1:
        return hint(f"right on this machine, but {here} is a number typed in: on a machine "
                     "with another number of cores your function should give another answer. "
                     "Compute it from os.cpu_count() (os.process_cpu_count() since 3.13)")
    for (cpus, usable), (given, truth) in answers.items():
        if given == truth:
            continue
        if given in (cpus, usable):
            return hint(f"with {usable} cores you answered {given}: threads that wait need no "
                         "core. The limit is the size of the pool behind to_thread")
        if given == usable + 4 and truth == 32:
            return hint(f"with {usable} cores you answered {given}, but the default pool is "
                         "capped: min(32, cores + 4)")
        if cpus != usable and given == min(32, cpus + 4):
            return hint(f"a process allowed {usable} of {cpus} cores: since Python 3.13 the "
                         "default pool counts os.process_cpu_count() (the cores this process "
                         "may use), not os.cpu_count()")
        if cpus != usable and truth == min(32, cpus + 4):
            return hint(f"a process allowed {usable} of {cpus} cores: up to Python 3.12 the "
                         "default pool counts os.cpu_count() (every core of the machine), "
                         "whatever this process may use; os.process_cpu_count() from 3.13")
        return hint(f"with os.cpu_count() = {cpus} your function gave {given}, but the default "
                     f"executor used {truth} threads: min(32, cores + 4)")
    return ok(f"the default executor's size, {here} here, follows the machine "
              f"(min(32, cores + 4)); every to_thread call shares it")
