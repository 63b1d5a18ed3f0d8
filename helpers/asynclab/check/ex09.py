"""The checks of notebook 09 · The decision guide."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from .core import (
    Stop,
    Verdict,
    call_learner,
    close_coroutines,
    hint,
    judged,
    need_function,
    ok,
    run_learner,
    todo,
)

#: The names the exercise offers, and the answer key: its keys are the notebook's
#: ``choices`` (both kept equal by tests/test_check_fixtures.py).
EX09_PRIMITIVES = ("gather", "wait_first", "to_thread", "process_pool", "lock", "semaphore",
                   "as_completed", "taskgroup")
EX09_MATCH = {
    "summarise 20 PDFs with a pure-Python parser": "process_pool",
    "ask 3 search engines, use whichever answers first": "wait_first",
    "at most 4 requests in flight to a model API": "semaphore",
    "call a vendor's blocking Python SDK": "to_thread",
    "three agents fill one report; if one fails, cancel the others": "taskgroup",
}
EX09_HINTS = {
    ("summarise 20 PDFs with a pure-Python parser", "to_thread"):
        "threads share the GIL: pure-Python parsing in threads runs one at a time (06 §5)",
    ("ask 3 search engines, use whichever answers first", "gather"):
        "gather waits for all of them; the first answer needs wait(FIRST_COMPLETED) (05 §6)",
    ("at most 4 requests in flight to a model API", "lock"):
        "a Lock lets one request in at a time; Semaphore(4) lets four (07 §5)",
    ("three agents fill one report; if one fails, cancel the others", "gather"):
        "gather propagates the first error but leaves the other tasks running (05 §5)",
    ("summarise 20 PDFs with a pure-Python parser", "gather"):
        "gather runs coroutines on one loop, one step at a time: pure-Python parsing "
        "gets no second core; it needs processes (06 §5)",
    ("call a vendor's blocking Python SDK", "gather"):
        "a blocking call inside a coroutine freezes the loop, gather or not: run it in a "
        "thread (03 §2)",
    ("at most 4 requests in flight to a model API", "gather"):
        "gather starts every request at once; a Semaphore(4) caps how many are in flight (07 §5)",
    ("call a vendor's blocking Python SDK", "process_pool"):
        "a blocking SDK call mostly waits (network), and a thread waits as well as a "
        "process, without pickling its arguments or starting an interpreter (03 §3)",
    ("ask 3 search engines, use whichever answers first", "as_completed"):
        "as_completed gives the first answer, but the other calls keep running: "
        "wait(FIRST_COMPLETED) hands you the pending ones to cancel (05 §6)",
}


#: Other spellings of the offered names (after lower case, no "asyncio.", spaces and
#: hyphens as underscores): the primitive's own name is as good an answer.
EX09_ALIASES = {
    "processpoolexecutor": "process_pool", "processpool": "process_pool",
    "wait": "wait_first", "first_completed": "wait_first", "wait_first_completed": "wait_first",
    "task_group": "taskgroup", "to_thread()": "to_thread", "asyncio_to_thread": "to_thread",
    "ascompleted": "as_completed", "gather()": "gather",
}


def _primitive(pick: Any) -> Any:
    """``pick`` spelled the way the exercise offers it, if it is a spelling of an offered
    name (any case, spacing, "asyncio." prefix); otherwise ``pick`` unchanged."""
    if not isinstance(pick, str):
        return pick
    name = re.sub(r"[\s-]+", "_", pick.strip().lower().removeprefix("asyncio."))
    name = EX09_ALIASES.get(name, name)
    return name if name in EX09_PRIMITIVES else pick


@judged
def ex09_choices(given: Any) -> Verdict:
    """For each situation, the primitive that fits (one of ``EX09_PRIMITIVES``, in any
    case or spacing)."""
    if given is None or (isinstance(given, dict) and any(v is None for v in given.values())):
        return todo("replace each None in choices with one of the names above")
    if not isinstance(given, dict) or set(given) != set(EX09_MATCH):
        return hint("keep choices as the dict you were given (the same situations); only "
                     "replace its values with the names of primitives")
    given = {situation: _primitive(pick) for situation, pick in given.items()}
    for situation, pick in given.items():
        if pick not in EX09_PRIMITIVES:
            return hint(f"{situation!r}: answer one of {', '.join(EX09_PRIMITIVES)}, "
                         f"not {pick!r}")
    for situation, pick in given.items():
        if pick != EX09_MATCH[situation]:
            why = EX09_HINTS.get((situation, pick), "look at the table in section 3")
            return hint(f"{situation!r} -> {pick!r}: {why}")
    return ok("every situation has its primitive")


#: The exercise's tools, as its text states them: each returns its own name after a delay (s).
EX09_SLOW_S, EX09_FAST_S = 0.05, 0.01


async def _slow() -> str:
    await asyncio.sleep(EX09_SLOW_S)
    return "slow"


async def _fast() -> str:
    await asyncio.sleep(EX09_FAST_S)
    return "fast"


def _names(predicted: Any) -> list[Any] | None:
    """A list or tuple of strings, each in lower case without spaces or quotes; else None."""
    if not isinstance(predicted, list | tuple):
        return None
    return [p.strip().strip("'\"").strip().lower() if isinstance(p, str) else p
            for p in predicted]


@judged
def ex09_gather(predicted: Any) -> Verdict:
    """What does ``await asyncio.gather(slow(), fast())`` return (fast finishes first)?"""
    if predicted is None:
        return todo("set predicted to a list of two strings")

    async def both():
        return await asyncio.gather(_slow(), _fast())

    actual = run_learner(both, "the experiment")
    guess = _names(predicted)
    if guess == actual:
        return ok(f"{actual}")
    if guess == actual[::-1]:
        return hint("that is the completion order (fast finishes first). gather's results "
                     "follow the order of its arguments; as_completed gives completion "
                     "order (section 2.2)")
    return hint("gather returns a list with one result per argument: slow() returns the "
                 "string 'slow' and fast() the string 'fast', so predicted is a list of "
                 "those two strings; which order?")


EX09_WANTED = (("budget", "memory"), ("memory", "budget"), ("tools", "budget", "memory"))


@judged
def ex09_acquire_order(fn: Any) -> Verdict:
    """``acquire_order(names)``: an order to take the locks in, so that no agents deadlock."""
    what = "acquire_order(names), a plain def returning the names in the order to lock them"
    not_plain = "acquire_order computes an order: make it a plain def, not async def"
    need_function(fn, what, is_async=False, not_plain=not_plain)
    for names in EX09_WANTED:
        got = call_learner(fn, what, list(names))
        if close_coroutines(got):  # a plain callable that returned a coroutine
            return hint(not_plain)
        if (not isinstance(got, list | tuple) or not all(isinstance(n, str) for n in got)
                or sorted(got) != sorted(names)):
            return hint("return every name the agent needs, each once, in the order to "
                         "lock them")

    async def agents():
        locks = {name: asyncio.Lock() for names in EX09_WANTED for name in names}

        async def worker(names):
            held = []
            try:
                for name in fn(list(names)):
                    await locks[name].acquire()
                    held.append(name)
                    await asyncio.sleep(0.005)
            finally:
                for name in held:
                    locks[name].release()

        try:
            async with asyncio.timeout(0.5):
                async with asyncio.TaskGroup() as tg:
                    for names in EX09_WANTED:
                        tg.create_task(worker(names))
        except TimeoutError:
            raise Stop(hint("deadlock. Each agent still locks in its own order; return the "
                              "same order for any agent, e.g. a sorted one (section 2.6)")) from None

    run_learner(agents, what)
    return ok("one global order, no cycle, no deadlock")
