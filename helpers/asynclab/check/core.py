"""Checks for the notebooks' exercises: ``check.ex04_increment(your_function)``.

Each ``exNN_name`` runs the learner's answer against hidden cases and returns a
``Verdict``: it shows as ``pass: ...``, ``hint: ...`` (naming the misconception) or
``not answered yet: ...``. A check never raises on a wrong answer: the learner's
exceptions, hangs (bounded by ``TIMEOUT``) and type mix-ups all become hints. The cases
mirror the notebooks' own experiments; the lesson stays in the notebook.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .recorder import record
from .runner import ExperimentTimeout, run
from .workloads import usable_cores

__all__ = [
    "TIMEOUT",
    "Verdict",
    "ex00_bridge",
    "ex00_concurrent",
    "ex01_order",
    "ex01_yielding",
    "ex02_choices",
    "ex02_prediction",
    "ex03_answers",
    "ex03_burst",
    "ex04_increment",
    "ex04_prediction",
    "ex04_store_agent",
    "ex05_collect",
    "ex05_fastest",
    "ex05_retry",
    "ex06_slow_calls",
    "ex06_workers",
    "ex07_backoff",
    "ex07_bottleneck",
    "ex08_charge",
    "ex08_polite",
    "ex09_acquire_order",
    "ex09_choices",
    "ex09_gather",
    "ex10_call_tool",
    "ex10_min_task",
]

#: Seconds any one check may spend running the learner's code before it gives a hint.
TIMEOUT = 10.0


@dataclass(frozen=True)
class Verdict:
    """The answer of a check: ``passed``, and a message for the learner."""

    passed: bool
    message: str

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__

    def __bool__(self) -> bool:
        return self.passed


class _Stop(Exception):
    """Raised inside a check to hand back a verdict early."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def _pass(message: str) -> Verdict:
    return Verdict(True, f"pass: {message}")


def _hint(message: str) -> Verdict:
    return Verdict(False, f"hint: {message}")


def _todo(message: str) -> Verdict:
    return Verdict(False, f"not answered yet: {message}")


def _judged(check: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """Turn a ``_Stop`` raised anywhere in ``check`` into its verdict."""

    def wrapper(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return check(*args, **kwargs)
        except _Stop as stop:
            return stop.verdict

    wrapper.__name__ = check.__name__
    wrapper.__qualname__ = check.__qualname__
    wrapper.__doc__ = check.__doc__
    return wrapper


def _raised(exc: BaseException) -> str:
    return f"your code raised {type(exc).__name__}: {exc}"


def _need_function(fn: Any, what: str, *, is_async: bool) -> None:
    """Stop with 'not answered yet' or a hint unless ``fn`` looks like the function asked for."""
    if fn is None:
        raise _Stop(_todo(f"write {what}"))
    if not callable(fn):
        raise _Stop(_hint(f"pass the function itself ({what}), not a {type(fn).__name__}"))
    if is_async and not inspect.iscoroutinefunction(fn):
        raise _Stop(_hint(f"{what} must be a coroutine function: define it with `async def`"))


def _run_learner(make: Callable[[], Coroutine[Any, Any, Any]], what: str,
                 timeout: float | None = None) -> Any:
    """Run a trial coroutine through ``asynclab.run``; the learner's errors become verdicts."""
    timeout = TIMEOUT if timeout is None else timeout
    try:
        return run(make(), timeout=timeout)
    except NotImplementedError:
        raise _Stop(_todo(f"write {what}")) from None
    except ExperimentTimeout:
        raise _Stop(_hint(
            f"{what} did not finish within {timeout:g} s. Is it waiting for something that "
            "never happens, or looping forever (or blocking the loop with time.sleep)?"
        )) from None
    except _Stop:
        raise
    except Exception as exc:  # the learner's error: a hint, never a traceback
        raise _Stop(_hint(f"{_raised(exc)}. Read the exercise again: {what}")) from None


def _call_learner(fn: Callable[..., Any], what: str, *args: Any) -> Any:
    """Call a plain learner function; its errors become verdicts."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise _Stop(_todo(f"write {what}")) from None
    except Exception as exc:
        raise _Stop(_hint(f"{_raised(exc)}. Read the exercise again: {what}")) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _need_positive_ms(value: Any, name: str) -> float:
    if value is None:
        raise _Stop(_todo(f"set {name} to a number of milliseconds"))
    if not _is_number(value) or value <= 0:
        raise _Stop(_hint(f"{name} must be a positive number of milliseconds, got {value!r}"))
    return float(value)


def _need_choices(given: Any, key: dict[str, str], name: str, options: tuple[str, str]) -> None:
    a, b = options
    if given is None or (isinstance(given, dict) and any(v is None for v in given.values())):
        raise _Stop(_todo(f"replace each None in {name} with {a!r} or {b!r}"))
    if not isinstance(given, dict) or set(given) != set(key):
        raise _Stop(_hint(f"keep {name} as the dict you were given (the same keys); "
                          f"only replace its values with {a!r} or {b!r}"))
    for line, pick in given.items():
        if pick not in options:
            raise _Stop(_hint(f"{line!r}: answer {a!r} or {b!r}, not {pick!r}"))


# -- 00 · Start here -----------------------------------------------------------------------

@_judged
def ex00_concurrent(fn: Any) -> Verdict:
    """``async def fetch_both(fetch)``: both fetches at once, results as [user, orders]."""
    what = "fetch_both(fetch), an async def that awaits fetch('user') and fetch('orders')"
    _need_function(fn, what, is_async=True)
    latency = 0.1

    async def fetch(name):
        await asyncio.sleep(latency)
        return f"data for {name}"

    async def trial():
        with record() as tl:
            got = await fn(fetch)
        return got, tl.wall_ms

    got, wall_ms = _run_learner(trial, what)
    if inspect.iscoroutine(got) or (isinstance(got, list | tuple)
                                    and any(inspect.iscoroutine(g) for g in got)):
        if inspect.iscoroutine(got):
            got.close()
        else:
            for g in got:
                if inspect.iscoroutine(g):
                    g.close()
        return _hint("you returned coroutine objects, not results: calling fetch('user') only "
                     "makes a plan; await it (or hand it to gather, and await that)")
    got = list(got) if isinstance(got, list | tuple) else got
    if got == ["data for orders", "data for user"]:
        return _hint("results in the wrong order: gather returns them in the order you passed "
                     "the coroutines, whatever order they finish in")
    if got != ["data for user", "data for orders"]:
        return _hint(f"return both results as [user, orders]; got {got!r}")
    if wall_ms > 1.5 * latency * 1e3:
        return _hint(f"took {wall_ms:.0f} ms for two {latency * 1e3:.0f} ms waits: you awaited "
                     "them one after the other. Start both, then wait once: asyncio.gather")
    return _pass(f"two {latency * 1e3:.0f} ms waits in {wall_ms:.0f} ms: they overlapped")


@_judged
def ex00_bridge(fn: Any) -> Verdict:
    """``def answer(main)``: a plain function that runs ``main()`` and returns its result."""
    what = "answer(main), a plain def that runs main() and returns its result"
    if fn is None:
        return _todo(f"write {what}")
    if not callable(fn):
        return _hint(f"pass the function itself ({what}), not a {type(fn).__name__}")
    if inspect.iscoroutinefunction(fn):
        return _hint("answer must be a plain `def`: code that cannot await (a widget callback, "
                     "a library hook) is exactly where you need a bridge")

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
        got = _closing(made, run, trial(), timeout=TIMEOUT)
    except NotImplementedError:
        return _todo(f"write {what}")
    except ExperimentTimeout:
        return _hint(f"answer did not return within {TIMEOUT:g} s")
    except RuntimeError as exc:
        return _hint(f"{_raised(exc)}. asyncio.run (and run_until_complete) cannot start a loop "
                     "inside one that is already running, as in a notebook cell (section 4): "
                     "use asynclab.run(main())")
    except TypeError as exc:
        return _hint(f"{_raised(exc)}. Pass a coroutine object: call main(), then run it")
    except Exception as exc:
        return _hint(_raised(exc))
    if inspect.iscoroutine(got):
        got.close()
        return _hint("you returned the coroutine object main() without running it: it is a "
                     "plan; asynclab.run(main()) runs it and gives back its result")
    if got != 42:
        return _hint(f"return main()'s result; got {got!r}")
    return _pass("main() ran to the end on a fresh loop, from code that cannot await")


def _closing(made: list, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(...)``, then close the coroutines the learner made but never ran (no warning)."""
    try:
        return call(*args, **kwargs)
    finally:
        for coro in made:
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()


# -- 01 · The event loop --------------------------------------------------------------------

EX01_YIELDS = {"A": 1, "B": 3, "C": 2}


async def _hopper(yields: int) -> None:
    for _ in range(yields):
        await asyncio.sleep(0)


@_judged
def ex01_order(predicted: Any) -> Verdict:
    """Predict the order of steps of tasks A, B, C yielding 1, 3 and 2 times."""
    if predicted is None:
        return _todo("set predicted_order to the task names in the order their steps run, "
                     "like 'A B C ...'")
    if isinstance(predicted, str):
        guess = [c for c in predicted.upper() if c in "ABC"]
    elif isinstance(predicted, list | tuple) and all(isinstance(p, str) for p in predicted):
        guess = [p.strip().upper() for p in predicted]
    else:
        return _hint(f"give the order as a string 'A B C ...' or a list of names, "
                     f"got {type(predicted).__name__}")

    async def trial():
        with record() as tl:
            await asyncio.gather(*(asyncio.create_task(_hopper(n), name=name)
                                   for name, n in EX01_YIELDS.items()))
        return tl.order()

    real = _run_learner(trial, "the experiment")
    shown = " ".join(real)
    if guess == real:
        return _pass(f"recorded {shown}: strict turns, and each task leaves when it is done")
    counts = {name: guess.count(name) for name in EX01_YIELDS}
    if counts != {name: n + 1 for name, n in EX01_YIELDS.items()}:
        return _hint("count the steps first: a task takes one step per bare yield, plus the "
                     "last stretch from its final yield to its end (section 4)")
    if guess == sorted(guess):
        return _hint("a bare yield hands the loop back: the others run in between, so a task "
                     "never runs all its steps in a row while others are ready")
    return _hint("the ready queue is first-in, first-out: a task that yields goes to the "
                 "back, behind every task already ready (section 5). Recorded: " + shown)


def _compute(n: int, log: list[str], seconds: float = 0.02) -> int:
    log.append(f"compute {n} start")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    log.append(f"compute {n} end")
    return n * n


@_judged
def ex01_yielding(fn: Any) -> Verdict:
    """``async def two_computations(compute)``: let other tasks run between two computations."""
    what = "two_computations(compute), an async def returning [compute(1), compute(2)]"
    _need_function(fn, what, is_async=True)

    async def trial():
        log: list[str] = []
        done = False

        async def other():
            while not done:
                log.append("other")
                await asyncio.sleep(0)

        with record() as tl:
            ticker = asyncio.create_task(other(), name="other")
            try:
                got = await asyncio.create_task(fn(lambda n: _compute(n, log)), name="yours")
            finally:
                done = True
                await ticker
        return got, log, tl.task("yours").steps

    got, log, steps = _run_learner(trial, what)
    if inspect.iscoroutine(got):
        got.close()
        return _hint("you returned a coroutine: compute is a plain function, call it")
    if not isinstance(got, list | tuple) or list(got) != [1, 4]:
        return _hint(f"return [compute(1), compute(2)]; got {got!r}")
    try:
        between = log[log.index("compute 1 end"):log.index("compute 2 start")]
    except ValueError:
        return _hint("call compute(1), then compute(2), once each")
    if "other" not in between:
        return _hint(f"your task ran in {steps} step(s) and no other task ran between the two "
                     "computations. Only an await that suspends hands the loop back: "
                     "`await asyncio.sleep(0)` between them (awaiting a coroutine that does "
                     "not suspend is a plain call, section 4)")
    return _pass(f"your task took {steps} steps, and the other task ran "
                 f"{between.count('other')} time(s) between the computations")


# -- 02 · Concurrency vs parallelism -------------------------------------------------------

EX02_RIGHT = {
    "fetch 20 web pages": "gather",
    "call a language model for 8 agents at once": "gather",
    "score 8 chess positions with a pure-Python search": "processes",
    "parse 50 large documents already in memory, in pure Python": "processes",
}


@_judged
def ex02_choices(given: Any) -> Verdict:
    """For each job: "gather" (waiting) or "processes" (computing)."""
    _need_choices(given, EX02_RIGHT, "choices", ("gather", "processes"))
    for job, pick in given.items():
        if pick != EX02_RIGHT[job] and EX02_RIGHT[job] == "processes":
            return _hint(f"'{job}' is CPU work. gather only overlaps waiting; CPU work runs "
                         "one task at a time on the loop (section 3)")
        if pick != EX02_RIGHT[job]:
            return _hint(f"'{job}' is mostly waiting. Waiting needs no extra core, so one "
                         "event loop overlaps all the waits for free (section 2)")
    return _pass("waiting -> concurrency, computing -> parallelism")


def _burn_ms(ms: float) -> None:
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


@_judged
def ex02_prediction(predicted: Any) -> Verdict:
    """Four tasks under gather: each waits 100 ms, then computes 50 ms on the loop."""
    predicted = _need_positive_ms(predicted, "predicted_ms")

    async def step():
        await asyncio.sleep(0.1)
        _burn_ms(50)

    async def trial():
        with record() as tl:
            await asyncio.gather(*(asyncio.create_task(step(), name=f"task {i + 1}")
                                   for i in range(4)))
        return tl.wall_ms, tl.summary().loop_busy_ms

    wall, busy = _run_learner(trial, "the experiment")
    measured = f"measured {wall:.0f} ms, of which the loop was busy {busy:.0f} ms"
    if abs(predicted - 300) <= 100:
        return _pass(f"{measured}: one wait, then the four jobs in turn")
    if predicted < 300:
        return _hint(f"{measured}. The waits overlap, but the CPU work does not: each "
                     "task's 50 ms runs on the one loop thread, in turn")
    return _hint(f"{measured}. Under gather the four 100 ms waits overlap: they cost "
                 "about one wait, not four")


# -- 03 · Async tool execution -------------------------------------------------------------

EX03_KEY = {
    "requests.get(url)": "blocks",
    "await asyncio.to_thread(requests.get, url)": "free",
    "time.sleep(1)": "blocks",
    "await client.get(url)  # httpx.AsyncClient": "free",
    "await asyncio.to_thread(time.sleep(1))": "blocks",
}


@_judged
def ex03_answers(given: Any) -> Verdict:
    """For each line inside a coroutine: "blocks" the loop, or leaves it "free"."""
    _need_choices(given, EX03_KEY, "answers", ("blocks", "free"))
    for line, pick in given.items():
        if pick == EX03_KEY[line]:
            continue
        if line.endswith("time.sleep(1))"):
            return _hint("look at the parentheses. time.sleep(1) is *called* here, on the loop, "
                         "before to_thread ever sees it; pass the function and its argument: "
                         "to_thread(time.sleep, 1)")
        if pick == "free":
            return _hint(f"{line!r} has no await: a sync call runs to the end on the loop "
                         "thread, and gather cannot overlap it (section 2)")
        return _hint(f"{line!r} awaits something that suspends, so the loop runs other tasks "
                     "while it waits (sections 3 and 4)")
    return _pass("only an await that suspends frees the loop")


async def _burst(calls: int, latency: float, workers: int) -> float:
    with ThreadPoolExecutor(workers) as pool:
        asyncio.get_running_loop().set_default_executor(pool)
        t0 = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(time.sleep, latency) for _ in range(calls)))
        return (time.perf_counter() - t0) * 1e3


@_judged
def ex03_burst(predicted: Any) -> Verdict:
    """30 to_thread calls of 100 ms on a default pool of 4 workers: the wall time in ms."""
    predicted = _need_positive_ms(predicted, "burst_ms")
    measured = _run_learner(lambda: _burst(30, 0.1, 4), "the experiment", timeout=30)
    if 0.8 * predicted <= measured <= 1.6 * predicted:  # slack for a busy machine
        return _pass(f"measured {measured:.0f} ms")
    if predicted < measured:
        return _hint(f"measured {measured:.0f} ms. to_thread does not start a thread per call: "
                     "4 workers take the 30 jobs 4 at a time (section 5)")
    return _hint(f"measured {measured:.0f} ms. The 4 workers run their jobs side by side: "
                 "each round of 4 calls costs one latency, not four")


# -- 04 · Race conditions ------------------------------------------------------------------

@_judged
def ex04_prediction(predicted: Any) -> Verdict:
    """Three tasks run the tutorial's increment 100 times each: the final counter."""
    if predicted is None:
        return _todo("set predicted_final to a number")
    if not _is_number(predicted):
        return _hint(f"predicted_final must be a number, got {predicted!r}")
    state = {"counter": 0}

    async def increment(iterations):  # the tutorial's: an await between read and write
        for _ in range(iterations):
            temp = state["counter"]
            await asyncio.sleep(0)
            state["counter"] = temp + 1

    async def three_tasks():
        await asyncio.gather(*(increment(100) for _ in range(3)))
        return state["counter"]

    counter = _run_learner(three_tasks, "the experiment")
    if predicted == counter:
        return _pass(f"{counter}, every time")
    if predicted == 300:
        return _hint("not 300. Each task awaits between its read and its write; who runs there?")
    if 100 < predicted < 300:
        return _hint("it is not random. The ready queue is FIFO, so the three tasks move "
                     "in lockstep: each reads the same value before any of them writes")
    return _hint(f"not {predicted}. Trace the first round: A reads 0, B reads 0, C reads 0, "
                 "then ...")


@_judged
def ex04_increment(fn: Any) -> Verdict:
    """``increment_fixed(state, iterations)``: no lost update, no lock, a yield per iteration."""
    what = "increment_fixed(state, iterations), an async def"
    _need_function(fn, what, is_async=True)

    async def trial():
        state = {"count": 0}
        with record() as tl:
            await asyncio.gather(*(asyncio.create_task(fn(state, 50), name=f"T{i}")
                                   for i in range(3)))
        return state["count"], min(t.steps for t in tl.tasks if t.name.startswith("T"))

    count, steps = _run_learner(trial, what)
    if count != 150:
        if count > 150:
            return _hint(f"{count} of 150: some updates counted twice; add 1 per iteration")
        return _hint(f"{150 - count} updates lost. An await still sits between the read "
                     "and the write; move the await before the read or after the write")
    if steps < 50:
        return _hint("no update lost, but a task never yields: keep one "
                     "await asyncio.sleep(0) in every iteration")
    return _pass("150 of 150, and every task yielded in every iteration")


class BudgetStore:
    """A token budget where every access awaits, like a remote database (notebook 04)."""

    def __init__(self, tokens: int) -> None:
        self._tokens = tokens

    async def get(self) -> int:
        await asyncio.sleep(0.001)
        return self._tokens

    async def set(self, tokens: int) -> None:
        await asyncio.sleep(0.001)
        self._tokens = tokens


#: The simulated model call's latency in notebook 04 (``LLM_LATENCY``), in seconds.
EX04_LLM_LATENCY = 0.05


@_judged
def ex04_store_agent(fn: Any, agents: int = 4, cost: int = 100) -> Verdict:
    """``store_agent(store, lock, cost, calls)``: never overspend, and calls still overlap."""
    what = "store_agent(store, lock, cost, calls), an async def"
    _need_function(fn, what, is_async=True)
    allowed = 2 * agents  # the budget allows two calls per agent

    async def trial():
        store, lock, calls = BudgetStore(allowed * cost + cost // 2), asyncio.Lock(), []
        t0 = time.perf_counter()
        await asyncio.gather(*(fn(store, lock, cost, calls) for _ in range(agents)))
        return await store.get(), len(calls), time.perf_counter() - t0

    left, n_calls, took = _run_learner(trial, what)
    if left < 0 or n_calls > allowed:
        return _hint(f"overspent ({n_calls} calls for a budget that allows {allowed}). "
                     "Between `await store.get()` and `await store.set()` other agents run: "
                     "hold the lock across the whole check-and-reserve")
    if n_calls < allowed:
        return _hint(f"only {n_calls} calls for a budget that allows {allowed}: keep "
                     "looping until the budget left is smaller than the cost (and append "
                     "to calls after each model call)")
    # Overlapping calls take about 2 latencies (two rounds); one at a time, 2 x agents.
    if took > agents * EX04_LLM_LATENCY:
        return _hint("correct, but the calls ran one at a time: release the lock before "
                     "the model call; hold it only for the check-and-reserve")
    return _pass("no overspending, and the calls overlapped")


# -- 05 · Task management ------------------------------------------------------------------

#: Notebook 05's agents (section 5) and searches (section 6).
EX05_AGENT_LATENCY = {"planner": 0.08, "coder": 0.04, "researcher": 0.25, "critic": 0.10}
EX05_AGENT_DEADLINE = 0.12
EX05_SEARCH_LATENCY = {"web search": 0.09, "vector store": 0.03, "wiki": 0.06}


@_judged
def ex05_retry(fn: Any) -> Verdict:
    """``retry(tool, attempts)``: retry errors, re-raise the last, never retry a cancellation."""
    what = "retry(tool, attempts), an async def"
    _need_function(fn, what, is_async=True)
    calls: list[str] = []

    async def flaky():  # fails twice, then answers
        calls.append("flaky")
        await asyncio.sleep(0.001)
        if calls.count("flaky") < 3:
            raise ConnectionError("reset by peer")
        return "answer"

    async def broken():  # always fails
        calls.append("broken")
        await asyncio.sleep(0.001)
        raise ConnectionError("refused")

    async def slow():
        calls.append("slow")
        await asyncio.sleep(0.1)
        return "late"

    async def trial():
        try:
            answer = await fn(flaky, attempts=3)
        except ConnectionError:
            return "gave up", None, None, None
        try:
            await fn(broken, attempts=2)
            last = "no error"
        except ConnectionError:
            last = "ConnectionError"
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(0.02):
                await fn(slow, attempts=3)
        except TimeoutError:
            return answer, last, "TimeoutError", time.perf_counter() - t0
        return answer, last, "no TimeoutError", time.perf_counter() - t0

    answer, last, deadline, took = _run_learner(trial, what)
    if answer == "gave up":
        return _hint("retry(flaky, attempts=3) raised after fewer than 3 calls: catch the "
                     "error and call the tool again, up to `attempts` calls in all")
    if answer != "answer":
        return _hint(f"retry(flaky) returned {answer!r}; return the tool's result")
    if last != "ConnectionError" or calls.count("broken") != 2:
        return _hint(f"a tool that always fails was called {calls.count('broken')} time(s) with "
                     "attempts=2, and retry ended with "
                     f"{'no error' if last == 'no error' else last}: call it `attempts` times, "
                     "then re-raise the last error")
    if deadline != "TimeoutError" or calls.count("slow") > 1:
        return _hint("the deadline did not stop retry: it retried after a CancelledError. "
                     "Catch Exception, not BaseException (or re-raise CancelledError)")
    if took > (0.02 + 0.1) / 2:
        return _hint("the deadline fired late; do not wait for the tool after a cancellation")
    return _pass("retries errors, stops at the deadline")


@_judged
def ex05_collect(fn: Any) -> Verdict:
    """``collect(names, deadline)``: every agent concurrently, each on its own deadline."""
    what = "collect(names, deadline), an async def"
    _need_function(fn, what, is_async=True)
    names = list(EX05_AGENT_LATENCY)
    expected = {"planner": "planner: ok", "coder": "failed", "researcher": "timed out",
                "critic": "critic: ok"}
    deadline = 0.15
    spans = [min(EX05_AGENT_LATENCY[n], EX05_AGENT_DEADLINE, deadline) for n in names]
    ideal, sequential = max(spans), sum(spans)

    async def trial():
        t0 = time.perf_counter()
        try:
            got = await fn(names, deadline)
        except (NotImplementedError, _Stop):
            raise
        except Exception as exc:
            raise _Stop(_hint(f"collect raised {type(exc).__name__}: {exc}. One agent's error "
                              "must become a value: return_exceptions=True, or catch it per "
                              "agent")) from None
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return got, time.perf_counter() - t0, left

    got, took, left = _run_learner(trial, what)
    if got != expected:  # the critic has 20 ms to spare: on a loaded machine, look twice
        got, took, left = _run_learner(trial, what)
    if got != expected:
        return _hint(f"expected {expected}, got {got}. A deadline raises TimeoutError "
                     "(the same class as asyncio.TimeoutError); the coder raises RuntimeError")
    if left:
        return _hint("some agents were still running when collect returned")
    if took > (ideal + sequential) / 2:
        return _hint("right answers, but the agents ran one after another: start them "
                     "all, then wait (gather)")
    return _pass("every result kept, concurrently")


@_judged
def ex05_fastest(fn: Any) -> Verdict:
    """``fastest(tools)``: the first search result, and no search left running."""
    what = "fastest(tools), an async def"
    _need_function(fn, what, is_async=True)
    tools = list(EX05_SEARCH_LATENCY)
    slowest = max(EX05_SEARCH_LATENCY.values())
    best = min(EX05_SEARCH_LATENCY.values())

    async def trial():
        t0 = time.perf_counter()
        got = await fn(tools)
        took = time.perf_counter() - t0
        await asyncio.sleep(0)  # give cancelled tasks their step
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        return got, took, len(left)

    got, took, left = _run_learner(trial, what)
    if got != f"hits from {min(EX05_SEARCH_LATENCY, key=EX05_SEARCH_LATENCY.get)}":
        return _hint(f"got {got!r}; return the result (task.result()) of the first task done")
    if took > (best + slowest) / 2:
        return _hint("right answer, but you waited for the slow searches too: "
                     "asyncio.wait(..., return_when=asyncio.FIRST_COMPLETED)")
    if left:
        return _hint(f"{left} searches still running after you returned: cancel the pending ones")
    return _pass("the fastest answer, and nothing left running")


# -- 06 · Thread and process pools ---------------------------------------------------------

@_judged
def ex06_workers(n: Any) -> Verdict:
    """The fewest workers for 60 calls of 50 ms within 250 ms."""
    if n is None:
        return _todo("set workers_needed to a number of workers")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        return _hint(f"workers_needed must be a whole number of workers from 1 to 64, got {n!r}")
    waves = math.ceil(60 / n)
    if waves * 50 > 250:
        return _hint(f"{n} workers need ceil(60/{n}) = {waves} waves of 50 ms = "
                     f"{waves * 50} ms. Each worker does one call at a time")
    if n > 1 and math.ceil(60 / (n - 1)) * 50 <= 250:
        return _hint(f"{n} workers meet the target, but so would {n - 1}: the makespan is "
                     "ceil(J/N) x L, so it only drops when the number of waves drops")
    with ThreadPoolExecutor(max_workers=n) as pool:
        t0 = time.perf_counter()
        list(pool.map(time.sleep, [0.05] * 60))
        took = time.perf_counter() - t0
    return _pass(f"{n} workers, {waves} waves, measured {took * 1e3:.0f} ms")


def _default_pool_size() -> int:
    async def measure():
        await asyncio.to_thread(time.sleep, 0)  # make sure the loop has its default executor
        return asyncio.get_running_loop()._default_executor._max_workers  # private: no API

    return run(measure(), timeout=TIMEOUT)


@_judged
def ex06_slow_calls(fn: Any) -> Verdict:
    """``slow_calls_before_queueing()``: the default executor's size, read from the machine."""
    what = "slow_calls_before_queueing(), a plain function returning a number"
    if fn is None:
        return _todo(f"write {what}")
    if not callable(fn):
        return _hint("pass the function itself: the answer must be computed from the machine, "
                     "not typed in")
    answer = _call_learner(fn, what)
    if inspect.iscoroutine(answer):
        answer.close()
        return _hint("make it a plain def that returns a number, not an async def")
    if answer == _default_pool_size():
        return _pass("the default executor's size, min(32, os.cpu_count() + 4), is shared by "
                     "every to_thread")
    if answer in (usable_cores(), os.cpu_count()):
        return _hint("threads that wait need no core. The limit is the size of the pool "
                     "behind to_thread, not the number of cores")
    return _hint("to_thread does not start a thread per call; it uses the loop's default "
                 "executor. How big is it? (section 4)")


# -- 07 · Pipelines ------------------------------------------------------------------------

EX07_STAGES = ("fetch", "parse", "summarise")
EX07_SPEC = {"fetch": 0.030, "parse": 0.002, "summarise": 0.010}
EX07_WORKERS = {"fetch": 2, "parse": 1, "summarise": 1}


async def _pipeline(items: int) -> dict[str, float]:
    """A three-stage pipeline of sleeping workers and bounded queues: utilisation per stage."""
    queues = {stage: asyncio.Queue(4) for stage in EX07_STAGES}
    outbox = {"fetch": queues["parse"], "parse": queues["summarise"], "summarise": None}
    busy = dict.fromkeys(EX07_STAGES, 0.0)

    async def worker(stage):
        while True:
            item = await queues[stage].get()
            t0 = time.perf_counter()
            await asyncio.sleep(EX07_SPEC[stage])
            busy[stage] += time.perf_counter() - t0
            if outbox[stage] is not None:
                await outbox[stage].put(item)
            queues[stage].task_done()

    tasks = [asyncio.create_task(worker(s)) for s in EX07_STAGES for _ in range(EX07_WORKERS[s])]
    t0 = time.perf_counter()
    try:
        for n in range(items):
            await queues["fetch"].put(n)
        for stage in EX07_STAGES:
            await queues[stage].join()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - t0
    return {s: busy[s] / (EX07_WORKERS[s] * wall) for s in EX07_STAGES}


@_judged
def ex07_bottleneck(answer: Any) -> Verdict:
    """Which stage limits fetch 30 ms x 2 workers, parse 2 ms x 1, summarise 10 ms x 1?"""
    if answer is None:
        return _todo("set my_bottleneck to 'fetch', 'parse' or 'summarise'")
    if answer not in EX07_STAGES:
        return _hint(f"answer one of {EX07_STAGES}, not {answer!r}")
    util = _run_learner(lambda: _pipeline(12), "the experiment", timeout=30)
    measured = max(util, key=util.get)
    shown = ", ".join(f"{s} {u:.2f}" for s, u in util.items())
    if answer == measured:
        return _pass(f"{measured} is saturated (utilisation {shown})")
    return _hint(f"measured utilisation {shown}. The bottleneck is the stage with the least "
                 "capacity, workers / seconds per item, not the slowest single item: compare "
                 "2 / 30 ms with 1 / 10 ms")


@_judged
def ex07_backoff(fn: Any) -> Verdict:
    """``backoff_delay(attempt, retry_after=None)``: capped exponential, equal jitter."""
    what = "backoff_delay(attempt, retry_after=None)"
    if fn is None:
        return _todo(f"write {what}")
    if not callable(fn):
        return _hint(f"pass the function itself ({what}), not a {type(fn).__name__}")
    first = _call_learner(fn, what, 0)
    if inspect.iscoroutine(first):
        first.close()
        return _hint("backoff_delay computes a number: make it a plain def, not async def")
    for attempt in (0, 1, 3, 5, 8, 12):
        ceiling = min(2.0, 0.1 * 2**attempt)
        draws = [_call_learner(fn, what, attempt) for _ in range(300)]
        if not all(_is_number(d) for d in draws):
            return _hint(f"return a number of seconds; got {draws[0]!r}")
        if max(draws) > ceiling + 1e-9:
            return _hint(f"attempt {attempt} waited {max(draws):.3f} s, above the ceiling "
                         f"{ceiling:.3f} s: cap base x 2**attempt at 2 s")
        if min(draws) < ceiling / 2 - 1e-9:
            return _hint(f"attempt {attempt} waited only {min(draws):.3f} s: equal jitter "
                         f"keeps at least half the ceiling ({ceiling / 2:.3f} s)")
        if max(draws) - min(draws) < 0.2 * ceiling:
            return _hint("the delays barely vary: without jitter, clients rejected together "
                         "retry together (a retry storm)")
    for retry_after in (0.05, 1.5, 3.0):
        draws = [_call_learner(fn, what, 2, retry_after) for _ in range(100)]
        if min(draws) < retry_after - 1e-9:
            return _hint(f"the server said Retry-After {retry_after} s and you waited "
                         f"{min(draws):.3f} s: never retry sooner than it asks")
    return _pass("exponential, capped, jittered, and it honours Retry-After")



# -- 08 · Capstone -------------------------------------------------------------------------

@_judged
def ex08_charge(fn: Any) -> Verdict:
    """``charge(budget, tokens)``: ten agents charge 30 of a 100-token budget; never overspend."""
    what = "charge(budget, tokens), an async def"
    _need_function(fn, what, is_async=True)

    async def trial():
        budget = {"limit": 100, "spent": 0, "lock": asyncio.Lock()}
        granted = await asyncio.gather(*(fn(budget, 30) for _ in range(10)))
        return budget["spent"], sum(bool(g) for g in granted)

    spent, granted = _run_learner(trial, what)
    if not _is_number(spent):
        return _hint(f"budget['spent'] must stay a number of tokens, got {spent!r}")
    if spent > 100:
        return _hint(f"{granted} charges granted, {spent} of 100 tokens spent: the check "
                     "and the update must happen under the same `async with budget['lock']`")
    if granted != 3 or spent != 90:
        return _hint(f"expected 3 charges of 30 granted (90 tokens), got {granted} ({spent}): "
                     "return True and add the tokens when they fit, else return False")
    return _pass("never overspent")


@_judged
def ex08_polite(fn: Any) -> Verdict:
    """``polite_complete(llm, prompt)``: 12 calls against a rate-limited, flaky model."""
    from .llm import RateLimited, ServerError, SimulatedLLM

    what = "polite_complete(llm, prompt), an async def"
    _need_function(fn, what, is_async=True)

    async def trial():
        llm = SimulatedLLM(seed=2, time_scale=0.02, rpm=600, burst=3, error_rate=0.2)
        try:
            answers = await asyncio.gather(*(fn(llm, f"q{i}") for i in range(12)))
        except (RateLimited, ServerError) as exc:
            raise _Stop(_hint(f"{type(exc).__name__} escaped: catch it and retry "
                              "(10 attempts)")) from None
        return answers, llm.stats()["rate_limited"]

    answers, n429 = _run_learner(trial, what)
    if any(inspect.iscoroutine(a) for a in answers):
        for a in answers:
            if inspect.iscoroutine(a):
                a.close()
        return _hint("you returned a coroutine: await llm.complete(...)")
    if any(a is None or not getattr(a, "text", None) for a in answers):
        return _hint("return the Completion from llm.complete")
    if n429 > 2 * (12 - 3):  # the first wave rejects 9; honouring Retry-After adds few more
        return _hint(f"{n429} 429s, more than twice the first wave's 9: sleep "
                     "e.retry_after, not a fixed time")
    return _pass("every answer, few 429s after the first wave")


# -- 09 · The decision guide ---------------------------------------------------------------

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
}


@_judged
def ex09_choices(given: Any) -> Verdict:
    """For each situation, the primitive that fits (one of ``EX09_PRIMITIVES``)."""
    if given is None or (isinstance(given, dict) and any(v is None for v in given.values())):
        return _todo("replace each None in choices with one of the names above")
    if not isinstance(given, dict) or set(given) != set(EX09_MATCH):
        return _hint("keep choices as the dict you were given (the same situations); only "
                     "replace its values with the names of primitives")
    for situation, pick in given.items():
        if pick not in EX09_PRIMITIVES:
            return _hint(f"{situation!r}: answer one of {', '.join(EX09_PRIMITIVES)}, "
                         f"not {pick!r}")
    for situation, pick in given.items():
        if pick != EX09_MATCH[situation]:
            hint = EX09_HINTS.get((situation, pick), "look at the table in section 3")
            return _hint(f"{situation!r} -> {pick!r}: {hint}")
    return _pass("every situation has its primitive")


async def _slow() -> str:
    await asyncio.sleep(0.05)
    return "slow"


async def _fast() -> str:
    await asyncio.sleep(0.01)
    return "fast"


@_judged
def ex09_gather(predicted: Any) -> Verdict:
    """What does ``await asyncio.gather(slow(), fast())`` return (fast finishes first)?"""
    if predicted is None:
        return _todo("set predicted to a list of two strings")

    async def both():
        return await asyncio.gather(_slow(), _fast())

    actual = _run_learner(both, "the experiment")
    guess = list(predicted) if isinstance(predicted, tuple) else predicted
    if guess == actual:
        return _pass(f"{actual}")
    if guess == actual[::-1]:
        return _hint("that is the completion order. gather's results follow the order of "
                     "its arguments; as_completed gives completion order (section 2.2)")
    return _hint(f"gather returns a list with one result per argument, here {len(actual)} "
                 "strings")


EX09_WANTED = (("budget", "memory"), ("memory", "budget"), ("tools", "budget", "memory"))


@_judged
def ex09_acquire_order(fn: Any) -> Verdict:
    """``acquire_order(names)``: an order to take the locks in, so that no agents deadlock."""
    what = "acquire_order(names), a plain def returning the names in the order to lock them"
    if fn is None:
        return _todo(f"write {what}")
    if not callable(fn):
        return _hint(f"pass the function itself ({what}), not a {type(fn).__name__}")
    for names in EX09_WANTED:
        got = _call_learner(fn, what, list(names))
        if inspect.iscoroutine(got):
            got.close()
            return _hint("acquire_order computes an order: make it a plain def, not async def")
        if (not isinstance(got, list | tuple) or not all(isinstance(n, str) for n in got)
                or sorted(got) != sorted(names)):
            return _hint("return every name the agent needs, each once, in the order to "
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
            raise _Stop(_hint("deadlock. Each agent still locks in its own order; return the "
                              "same order for any agent, e.g. a sorted one (section 2.6)")) from None

    _run_learner(agents, what)
    return _pass("one global order, no cycle, no deadlock")


# -- 10 · Beyond one machine ---------------------------------------------------------------

def _no_dask() -> Verdict | None:
    """A verdict saying Dask is missing, or None when ``distributed`` can be imported."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return Verdict(False, "not checked: Dask is not installed (pip install -e '.[dask]'), "
                              "so there is no cluster to check against")
    return None


@_judged
def ex10_min_task(ms: Any, cost: Any = None) -> Verdict:
    """The least work per task (ms) for the cluster's hop, ``cost["tiny"]["cluster"]``, to be
    at most 10% of the task's time. ``cost`` is the notebook's measurements, ``COST``."""
    if ms is None:
        return _todo("set min_task_ms to an expression using COST")
    missing = _no_dask()
    if missing is not None:
        return missing
    if not _is_number(ms) or ms <= 0:
        return _hint(f"min_task_ms must be a positive number of ms, got {ms!r}")
    hop = cost.get("tiny", {}).get("cluster") if isinstance(cost, dict) else None
    if not _is_number(hop) or hop <= 0:
        return _hint("nothing measured to check against: pass the notebook's measurements, "
                     "check.ex10_min_task(min_task_ms, COST), after running section 2")
    if abs(ms - 10 * hop) <= 0.1 * 10 * hop:
        return _pass(f"about {ms:.0f} ms of work per task, ten times the {hop:.2f} ms hop")
    if abs(ms - hop) <= 0.1 * hop:
        return _hint("that is the hop itself; at that size the hop is half of the task's time")
    return _hint("the hop is a fixed cost per task; for it to be 10% or less, the work must "
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


@_judged
def ex10_call_tool(fn: Any) -> Verdict:
    """``call_tool(client, ms, limit_s)``: burn(ms) on the cluster, cancelled past the deadline.

    Runs on a small cluster in this process (a scheduler and one worker thread), once with
    time to spare and once with a tool four times longer, in CPU time, than its deadline.
    """
    what = "call_tool(client, ms, limit_s), an async def"
    _need_function(fn, what, is_async=True)
    missing = _no_dask()
    if missing is not None:
        return missing
    if _unanswered(fn):
        return _todo(f"write {what}")
    from distributed import Client, LocalCluster  # imported here: Dask is optional

    async def trial(address):
        async with Client(address, asynchronous=True) as client:
            watched = _Watched(client)
            try:
                quick = await fn(watched, 5, 50 * EX10_LIMIT_S)
                n_quick = len(watched.futures)
                slow = await fn(watched, 4e3 * EX10_LIMIT_S, EX10_LIMIT_S)
            except TimeoutError:
                raise _Stop(_hint("a TimeoutError escaped; catch it and return "
                                  "'timed out'")) from None
            statuses = [f.status for f in watched.futures[n_quick:]]
            return quick, slow, statuses

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                      host="127.0.0.1", dashboard_address=None, silence_logs=50,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        quick, slow, statuses = _run_learner(lambda: trial(cluster.scheduler_address), what,
                                             timeout=3 * TIMEOUT)
    if inspect.iscoroutine(quick) or inspect.iscoroutine(slow):
        for got in (quick, slow):
            if inspect.iscoroutine(got):
                got.close()
        return _hint("you returned a coroutine: await the future")
    if isinstance(quick, bool) or not isinstance(quick, int):
        return _hint("with time to spare, return the tool's result (burn returns an int), "
                     f"got {quick!r}")
    if slow != "timed out":
        return _hint(f"past limit_s, return 'timed out', got {slow!r}")
    if not statuses:
        return _hint("submit the tool with client.submit(burn, ms, pure=False)")
    if any(s != "cancelled" for s in statuses):
        return _hint("leaving the timeout stops waiting, but the task is still on the cluster: "
                     "cancel the future (await future.cancel())")
    return _pass("the result in time, 'timed out' past the limit, and the late task cancelled")
