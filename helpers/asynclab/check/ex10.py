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
    not_a_number,
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


#: The share of a call's time the hop may take, and the least work that follows from it:
#: hop <= SHARE x (hop + work)  <=>  work >= (1 / SHARE - 1) x hop = 9 x hop.
EX10_SHARE = 0.1
EX10_FACTOR = 1 / EX10_SHARE - 1


def _near(x: float, target: float) -> bool:
    return abs(x - target) <= 0.02 * target  # 2%: rounding in the learner's arithmetic


@judged
def ex10_min_task(ms: Any, call_ms: Any = None, cost: Any = None) -> Verdict:
    """The least work (ms) a tool needs for the hop of one awaited call, ``call_ms`` (the
    notebook's ``CALL_MS``), to be at most 10% of the call's time: 9 x ``call_ms``.
    ``cost`` (the notebook's ``COST``) lets the hint recognise section 2's per-task cost."""
    if ms is None:
        return todo("set min_task_ms to an expression using CALL_MS")
    missing = _no_dask()
    if missing is not None:
        return missing
    if not is_number(ms) or ms <= 0:
        return hint(not_a_number("min_task_ms", ms, "a positive number of ms"))
    if not is_number(call_ms) or call_ms <= 0:
        return hint("nothing measured to check against: pass the notebook's measurement, "
                     "check.ex10_min_task(min_task_ms, CALL_MS, COST), after running section 3")
    hop, least = float(call_ms), EX10_FACTOR * float(call_ms)
    if _near(ms, least):
        return ok(f"about {ms:.0f} ms of work per call: the {hop:.1f} ms hop is then 10% "
                  "of the call")
    tiny = cost.get("tiny", {}).get("cluster") if isinstance(cost, dict) else None
    if is_number(tiny) and tiny > 0 and any(_near(ms, k * tiny) for k in (1, EX10_FACTOR, 10)):
        return hint("that uses section 2's cost per task with 200 tasks in flight (a "
                     "throughput, their messages batched together); an agent awaits one call "
                     "at a time, whose hop is the round trip CALL_MS")
    if _near(ms, hop):
        return hint("that is the hop itself: with that much work the hop is half of the call")
    if _near(ms, 10 * hop):
        return hint("with 10 x CALL_MS of work the hop is 1/11 of the call, under 10%: "
                     "enough, but not the least. The call's time is hop + work: solve "
                     "hop = 10% of (hop + work)")
    share = hop / (hop + ms)
    if ms < least:
        return hint(f"with {ms:.3g} ms of work the hop is {share:.0%} of the call, more than "
                     "10%. The call's time is hop + work: solve hop = 10% of (hop + work)")
    return hint(f"with {ms:.3g} ms of work the hop is {share:.1%} of the call: under 10%, "
                 "but more work than needed. The least is where hop = 10% of (hop + work)")


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
