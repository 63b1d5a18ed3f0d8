"""The checks of notebook 10 · Beyond one machine."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from . import core
from .core import (
    Stop,
    Verdict,
    close_coroutines,
    hint,
    is_number,
    judged,
    need_function,
    ok,
    run_learner,
    todo,
)


def _no_dask() -> Verdict | None:
    """A verdict saying Dask is missing, or None when ``distributed`` can be imported."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return Verdict(False, "not checked: Dask is not installed (pip install -e '.[dask]'), "
                              "so there is no cluster to check against")
    return None


@judged
def ex10_min_task(ms: Any, cost: Any = None) -> Verdict:
    """The least work per task (ms) for the cluster's hop, ``cost["tiny"]["cluster"]``, to be
    at most 10% of the task's time. ``cost`` is the notebook's measurements, ``COST``."""
    if ms is None:
        return todo("set min_task_ms to an expression using COST")
    missing = _no_dask()
    if missing is not None:
        return missing
    if not is_number(ms) or ms <= 0:
        return hint(f"min_task_ms must be a positive number of ms, got {ms!r}")
    hop = cost.get("tiny", {}).get("cluster") if isinstance(cost, dict) else None
    if not is_number(hop) or hop <= 0:
        return hint("nothing measured to check against: pass the notebook's measurements, "
                     "check.ex10_min_task(min_task_ms, COST), after running section 2")
    if abs(ms - 10 * hop) <= 0.1 * 10 * hop:
        return ok(f"about {ms:.0f} ms of work per task, ten times the {hop:.2f} ms hop")
    if abs(ms - hop) <= 0.1 * hop:
        return hint("that is the hop itself; at that size the hop is half of the task's time")
    return hint("the hop is a fixed cost per task; for it to be 10% or less, the work must "
                 "be at least 10 times the hop")


#: The deadline of ``ex10_call_tool``'s slow call (s); that tool has 4 x this much CPU work.
EX10_LIMIT_S = 0.1


class _Watched:
    """An asynchronous Dask client that keeps every future its ``submit`` returns, so the
    check can see whether the late one was cancelled (dropping a future is not cancelling it)."""

    def __init__(self, client: Any) -> None:
        self._client, self.futures = client, []

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        future = self._client.submit(*args, **kwargs)
        self.futures.append(future)
        return future

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def _unanswered(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` still raises NotImplementedError at once (probed without a cluster)."""
    try:
        coro = fn(None, 0, 0)
    except Exception:
        return False
    if not inspect.iscoroutine(coro):
        return False
    try:
        coro.send(None)
    except NotImplementedError:
        return True
    except BaseException:  # an answer: it failed on the probe's client=None
        pass
    finally:
        coro.close()
    return False


@judged
def ex10_call_tool(fn: Any) -> Verdict:
    """``call_tool(client, ms, limit_s)``: burn(ms) on the cluster, cancelled past the deadline.

    Runs on a small cluster in this process (a scheduler and one worker thread), once with
    time to spare and once with a tool four times longer, in CPU time, than its deadline.
    """
    what = "call_tool(client, ms, limit_s), an async def"
    need_function(fn, what, is_async=True)
    missing = _no_dask()
    if missing is not None:
        return missing
    if _unanswered(fn):
        return todo(f"write {what}")
    from distributed import Client, LocalCluster  # imported here: Dask is optional

    async def trial(address):
        async with Client(address, asynchronous=True) as client:
            watched = _Watched(client)
            try:
                quick = await fn(watched, 5, 50 * EX10_LIMIT_S)
                n_quick = len(watched.futures)
                slow = await fn(watched, 4e3 * EX10_LIMIT_S, EX10_LIMIT_S)
            except TimeoutError:
                raise Stop(hint("a TimeoutError escaped; catch it and return "
                                  "'timed out'")) from None
            statuses = [f.status for f in watched.futures[n_quick:]]
            return quick, slow, statuses

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None, silence_logs=50,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        quick, slow, statuses = run_learner(lambda: trial(cluster.scheduler_address), what,
                                             timeout=3 * core.TIMEOUT)
    if close_coroutines(quick, slow):
        return hint("you returned a coroutine: await the future")
    if isinstance(quick, bool) or not isinstance(quick, int):
        return hint("with time to spare, return the tool's result (burn returns an int), "
                     f"got {quick!r}")
    if slow != "timed out":
        return hint(f"past limit_s, return 'timed out', got {slow!r}")
    if not statuses:
        return hint("submit the tool with client.submit(burn, ms, pure=False)")
    if any(s != "cancelled" for s in statuses):
        return hint("leaving the timeout stops waiting, but the task is still on the cluster: "
                     "cancel the future (await future.cancel())")
    return ok("the result in time, 'timed out' past the limit, and the late task cancelled")
