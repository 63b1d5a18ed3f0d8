"""The task class the recorder's task factory makes: ``asyncio.Task``, except on a Python
whose ``create_task`` renames every factory-made task to "None" (CPython 3.13.0), where it
is a ``KeepNameTask``. Which one is asked once, on a loop of its own."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["KeepNameTask", "factory_task_class"]


class KeepNameTask(asyncio.Task):
    """A Task that ignores ``set_name(None)``: CPython 3.13.0's ``create_task`` calls it on
    every task made through a task factory, renaming it "None" (fixed in later releases)."""

    def set_name(self, value: object) -> None:
        if value is not None:
            super().set_name(value)


_RENAMES_TO_NONE: bool | None = None


def factory_task_class() -> type[asyncio.Task]:
    """``KeepNameTask`` if this Python's ``create_task`` renames factory-made tasks to
    "None", else ``asyncio.Task`` (asked once, in a thread of its own, bounded: 10 s)."""
    return KeepNameTask if _factory_renames_to_none() else asyncio.Task


def _factory_renames_to_none() -> bool:
    """Does this Python's ``create_task`` rename factory-made tasks to "None"? (Asked once.)"""
    global _RENAMES_TO_NONE
    if _RENAMES_TO_NONE is None:

        async def probe() -> bool:
            loop = asyncio.get_running_loop()
            loop.set_task_factory(lambda loop, coro, **kw: asyncio.Task(coro, loop=loop, **kw))
            task = asyncio.create_task(asyncio.sleep(0))
            await task
            return task.get_name() == "None"

        answer: list[bool] = []
        # Its own thread and loop: the caller's loop is running and must not be touched.
        thread = threading.Thread(target=lambda: answer.append(asyncio.run(probe())))
        thread.start()
        thread.join(timeout=10)
        if not answer:
            raise RuntimeError("the task-name probe did not finish within 10 s")
        _RENAMES_TO_NONE = answer[0]
    return _RENAMES_TO_NONE
