"""``run(coro)``: run a coroutine to completion from a script, a notebook cell or a widget.

In a script there is no running loop, so this is ``asyncio.run``. In a notebook cell the
kernel's loop is already running, and ``asyncio.run`` refuses; so the coroutine gets a
fresh loop of its own in a worker thread (no patching, unlike nest_asyncio). Either way
the loop is closed, its leftover tasks cancelled and its default executor shut down
before ``run`` returns. Each run notes the machine's load under the coroutine's name
(``machine_load.during``).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .machine_load import noted
from .validate import check_coroutine, check_number

__all__ = ["run", "ExperimentTimeout"]

T = TypeVar("T")

#: Upper bound, in seconds, on any experiment run through ``run``.
MAX_TIMEOUT = 3600.0
#: How long an interrupted or timed-out experiment gets to clean up after cancellation.
_GRACE = 5.0


class ExperimentTimeout(TimeoutError):
    """The experiment passed to ``run`` did not finish within its time bound."""


def run(coro: Coroutine[Any, Any, T], *, timeout: float | None = 60.0) -> T:
    """Run ``coro`` to completion and return its result, or raise its exception.

    ``timeout`` (seconds, default 60) bounds the run: when it expires the coroutine is
    cancelled and ``ExperimentTimeout`` is raised. ``None`` means no bound.
    """
    check_coroutine("coro", coro)
    if timeout is not None:
        try:
            timeout = check_number("timeout", timeout, 0, MAX_TIMEOUT, lo_open=True)
        except (TypeError, ValueError):
            coro.close()  # never started: close it so Python does not warn "never awaited"
            raise
    # The machine's load during the run, noted under the coroutine's name for check cells
    # (machine_load.during), so that a lesson cell holds the experiment alone.
    with noted(getattr(coro, "__qualname__", type(coro).__name__)):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return _run_fresh(_bounded(coro, timeout, None))
        return _run_in_thread(coro, timeout)


def _run_fresh(coro: Coroutine[Any, Any, T]) -> T:
    # What asyncio.run does, spelled out: nest_asyncio2.apply() replaces asyncio.run with a
    # version that reuses an existing loop and leaves it open, but it leaves Runner alone.
    with asyncio.Runner() as runner:
        return runner.run(coro)


async def _bounded(coro: Coroutine[Any, Any, T], timeout: float | None, box: dict | None) -> T:
    # Imported here: only a run inside a record() block needs the recorder.
    from .recorder import follow_run

    if box is not None:
        box["loop"] = asyncio.get_running_loop()
        box["task"] = asyncio.current_task()
        if box["stop"].is_set():  # interrupted before we got here
            coro.close()
            raise asyncio.CancelledError
    with follow_run():
        try:
            async with asyncio.timeout(timeout) as scope:
                return await coro
        except TimeoutError:
            if scope.expired():
                raise ExperimentTimeout(
                    f"the experiment did not finish within timeout={timeout:g} s and was cancelled"
                ) from None
            raise


def _run_in_thread(coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
    box: dict[str, Any] = {"stop": threading.Event()}
    context = contextvars.copy_context()  # so a recorder active in the caller sees this run

    def target() -> None:
        try:
            box["result"] = context.run(_run_fresh, _bounded(coro, timeout, box))
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name="asynclab.run", daemon=True)
    thread.start()
    try:
        # The loop enforces ``timeout`` itself; the join bound only matters when the
        # coroutine blocks its loop (time.sleep in a coroutine), so the timer cannot fire.
        thread.join(None if timeout is None else timeout + _GRACE)
        if thread.is_alive():
            _cancel(box, thread)
            raise ExperimentTimeout(
                f"the experiment blocked its event loop past timeout={timeout:g} s "
                "(is there a blocking call such as time.sleep inside a coroutine?)"
            )
    except KeyboardInterrupt:
        _cancel(box, thread)
        raise
    if "error" in box:
        error = box.pop("error")
        try:
            raise error
        finally:
            del error
    return box["result"]


def _cancel(box: dict[str, Any], thread: threading.Thread) -> None:
    """Cancel the experiment's main task from the caller's thread and wait briefly for it."""
    box["stop"].set()
    loop, task = box.get("loop"), box.get("task")
    if loop is not None and task is not None:
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop closed meanwhile: nothing left to cancel
            pass
    thread.join(_GRACE)
