"""asynclab.check: every exercise check passes the reference solution, names the
misconception of a typical wrong answer, says "not answered yet", and never raises."""

import asyncio
import math
import os
import random

import asynclab.check as check
import pytest


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setattr(check, "TIMEOUT", 1.0)  # so the hanging answers cost a second


def passes(verdict):
    assert isinstance(verdict, check.Verdict)
    assert verdict.passed and str(verdict).startswith("pass: "), verdict
    assert verdict  # truthy when passed


def hints(verdict, *words):
    assert isinstance(verdict, check.Verdict)
    assert not verdict.passed and str(verdict).startswith("hint: "), verdict
    assert not verdict
    for word in words:
        assert word in verdict.message, verdict.message


def unanswered(verdict):
    assert not verdict.passed and str(verdict).startswith("not answered yet"), verdict
    assert repr(verdict) == str(verdict)


async def not_implemented(*args, **kwargs):
    raise NotImplementedError


def plain_not_implemented(*args, **kwargs):
    raise NotImplementedError


async def raises(*args, **kwargs):
    raise KeyError("oops")


async def hangs(*args, **kwargs):
    await asyncio.Event().wait()


ASYNC_CHECKS = [check.ex00_concurrent, check.ex01_yielding, check.ex04_increment,
                check.ex04_store_agent, check.ex05_retry, check.ex05_collect,
                check.ex05_fastest]
VALUE_CHECKS = [check.ex01_order, check.ex02_choices, check.ex02_prediction,
                check.ex03_answers, check.ex03_burst, check.ex04_prediction,
                check.ex06_workers, check.ex07_bottleneck]
PLAIN_CHECKS = [check.ex00_bridge, check.ex06_slow_calls, check.ex07_backoff]


@pytest.mark.parametrize("ex", ASYNC_CHECKS + PLAIN_CHECKS + VALUE_CHECKS,
                         ids=lambda f: f.__name__)
def test_none_is_not_answered_yet(ex):
    unanswered(ex(None))


@pytest.mark.parametrize("ex", ASYNC_CHECKS, ids=lambda f: f.__name__)
def test_async_checks_turn_learner_errors_into_hints(ex):
    unanswered(ex(not_implemented))
    hints(ex(raises))
    hints(ex(hangs), "did not finish")
    hints(ex(42), "pass the function itself")
    hints(ex(lambda *a, **k: None), "async def")


@pytest.mark.parametrize("ex", PLAIN_CHECKS, ids=lambda f: f.__name__)
def test_plain_checks_turn_learner_errors_into_hints(ex):
    unanswered(ex(plain_not_implemented))
    hints(ex(lambda *a, **k: 1 / 0))
    hints(ex(42))
    hints(ex(not_implemented))  # async def where a plain def is asked: a hint, not a crash


@pytest.mark.parametrize("ex", VALUE_CHECKS, ids=lambda f: f.__name__)
def test_value_checks_never_raise_on_odd_values(ex):
    for odd in ("many", -5, [1], {"a": 1}, float("nan")):
        verdict = ex(odd)
        assert not verdict.passed and verdict.message.startswith("hint: "), (odd, verdict)


# -- 00 ----------------------------------------------------------------------------------

def test_ex00_concurrent():
    async def fetch_both(fetch):
        return await asyncio.gather(fetch("user"), fetch("orders"))

    async def one_after_the_other(fetch):
        return [await fetch("user"), await fetch("orders")]

    async def forgot_await(fetch):
        return [fetch("user"), fetch("orders")]

    passes(check.ex00_concurrent(fetch_both))
    hints(check.ex00_concurrent(one_after_the_other), "one after the other", "gather")
    hints(check.ex00_concurrent(forgot_await), "coroutine objects")


def test_ex00_bridge():
    def answer(main):
        return asynclab_run(main())

    def tutorial(main):
        return asyncio.run(main())

    def no_call(main):
        return asynclab_run(main)

    def only_a_plan(main):
        return main()

    passes(check.ex00_bridge(answer))
    hints(check.ex00_bridge(tutorial), "asyncio.run", "already running", "asynclab.run")
    hints(check.ex00_bridge(no_call), "call main()")
    hints(check.ex00_bridge(only_a_plan), "coroutine object")


def asynclab_run(coro):
    import asynclab

    return asynclab.run(coro)


# -- 01 ----------------------------------------------------------------------------------

def test_ex01_order():
    passes(check.ex01_order("A B C A B C B C B"))
    passes(check.ex01_order(list("ABCABCBCB")))
    hints(check.ex01_order("A A B B B B C C C"), "others run in between")
    hints(check.ex01_order("A B C A B C"), "count the steps")
    hints(check.ex01_order("A B C B C A B C B"), "first-in, first-out")


def test_ex01_yielding():
    async def two_computations(compute):
        first = compute(1)
        await asyncio.sleep(0)
        second = compute(2)
        return [first, second]

    async def no_yield(compute):
        return [compute(1), compute(2)]

    async def no_suspend():
        return None

    async def await_that_does_not_suspend(compute):
        first = compute(1)
        await no_suspend()
        return [first, compute(2)]

    passes(check.ex01_yielding(two_computations))
    hints(check.ex01_yielding(no_yield), "asyncio.sleep(0)")
    hints(check.ex01_yielding(await_that_does_not_suspend), "does not suspend")


# -- 02 ----------------------------------------------------------------------------------

def test_ex02_choices():
    passes(check.ex02_choices(dict(check.EX02_RIGHT)))
    hints(check.ex02_choices(dict.fromkeys(check.EX02_RIGHT, "processes")), "mostly waiting")
    hints(check.ex02_choices(dict.fromkeys(check.EX02_RIGHT, "gather")), "CPU work")
    unanswered(check.ex02_choices(dict.fromkeys(check.EX02_RIGHT)))


def test_ex02_prediction():
    passes(check.ex02_prediction(100 + 4 * 50))
    hints(check.ex02_prediction(4 * 150), "overlap")        # all in sequence
    hints(check.ex02_prediction(100), "CPU work does not")  # the work overlaps too


# -- 03 ----------------------------------------------------------------------------------

def test_ex03_answers():
    passes(check.ex03_answers(dict(check.EX03_KEY)))
    wrong = dict(check.EX03_KEY, **{"await asyncio.to_thread(time.sleep(1))": "free"})
    hints(check.ex03_answers(wrong), "parentheses")
    hints(check.ex03_answers(dict(check.EX03_KEY, **{"time.sleep(1)": "free"})), "no await")


def test_ex03_burst():
    passes(check.ex03_burst(math.ceil(30 / 4) * 100))
    hints(check.ex03_burst(100), "not start a thread per call")  # a thread per call
    hints(check.ex03_burst(30 * 100), "side by side")            # one at a time


# -- 04 ----------------------------------------------------------------------------------

def test_ex04_prediction():
    passes(check.ex04_prediction(100))
    hints(check.ex04_prediction(300), "not 300")
    hints(check.ex04_prediction(200), "not random")


def test_ex04_increment():
    async def increment_fixed(state, iterations):
        for _ in range(iterations):
            state["count"] += 1
            await asyncio.sleep(0)

    async def tutorial(state, iterations):
        for _ in range(iterations):
            temp = state["count"]
            await asyncio.sleep(0)
            state["count"] = temp + 1

    async def never_yields(state, iterations):
        for _ in range(iterations):
            state["count"] += 1

    passes(check.ex04_increment(increment_fixed))
    hints(check.ex04_increment(tutorial), "updates lost")
    hints(check.ex04_increment(never_yields), "never yields")


async def fake_llm_call(cost):
    await asyncio.sleep(check.EX04_LLM_LATENCY)


def test_ex04_store_agent():
    async def store_agent(store, lock, cost, calls):
        while True:
            async with lock:
                tokens = await store.get()
                if tokens < cost:
                    return
                await store.set(tokens - cost)
            await fake_llm_call(cost)
            calls.append(cost)

    async def no_lock(store, lock, cost, calls):
        while (tokens := await store.get()) >= cost:
            await store.set(tokens - cost)
            await fake_llm_call(cost)
            calls.append(cost)

    async def lock_around_the_call(store, lock, cost, calls):
        while True:
            async with lock:
                tokens = await store.get()
                if tokens < cost:
                    return
                await store.set(tokens - cost)
                await fake_llm_call(cost)
                calls.append(cost)

    passes(check.ex04_store_agent(store_agent))
    hints(check.ex04_store_agent(no_lock), "overspent", "hold the lock")
    hints(check.ex04_store_agent(lock_around_the_call), "one at a time")


# -- 05 ----------------------------------------------------------------------------------

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
    async with asyncio.timeout(check.EX05_AGENT_DEADLINE):
        await asyncio.sleep(check.EX05_AGENT_LATENCY[name])
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
    await asyncio.sleep(check.EX05_SEARCH_LATENCY[tool])
    return f"hits from {tool}"


def test_ex05_fastest():
    async def fastest(tools):
        tasks = [asyncio.create_task(search(tool)) for tool in tools]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return done.pop().result()

    async def waits_for_all(tools):
        results = await asyncio.gather(*(search(tool) for tool in tools))
        return min(results, key=lambda r: check.EX05_SEARCH_LATENCY[r[len("hits from "):]])

    async def leaves_them_running(tools):
        tasks = [asyncio.create_task(search(tool)) for tool in tools]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return done.pop().result()

    passes(check.ex05_fastest(fastest))
    hints(check.ex05_fastest(waits_for_all), "FIRST_COMPLETED")
    hints(check.ex05_fastest(leaves_them_running), "cancel the pending")


# -- 06 ----------------------------------------------------------------------------------

def test_ex06_workers():
    passes(check.ex06_workers(math.ceil(60 / (250 // 50))))
    hints(check.ex06_workers(5), "waves")          # too few: 12 waves of 50 ms
    hints(check.ex06_workers(15), "so would 14")   # more than needed
    hints(check.ex06_workers(True), "whole number")


def test_ex06_slow_calls():
    passes(check.ex06_slow_calls(lambda: min(32, (os.cpu_count() or 1) + 4)))
    hints(check.ex06_slow_calls(os.cpu_count), "need no core")
    hints(check.ex06_slow_calls(lambda: 10**6), "thread per call")


# -- 07 ----------------------------------------------------------------------------------

def test_ex07_bottleneck():
    passes(check.ex07_bottleneck("fetch"))
    hints(check.ex07_bottleneck("summarise"), "least capacity")


def test_ex07_backoff():
    def backoff_delay(attempt, retry_after=None):
        ceiling = min(2.0, 0.1 * 2**attempt)
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), retry_after or 0)

    def no_cap(attempt, retry_after=None):
        ceiling = 0.1 * 2**attempt
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), retry_after or 0)

    def full_jitter(attempt, retry_after=None):
        return max(random.uniform(0, min(2.0, 0.1 * 2**attempt)), retry_after or 0)

    def no_jitter(attempt, retry_after=None):
        return max(min(2.0, 0.1 * 2**attempt), retry_after or 0)

    def ignores_retry_after(attempt, retry_after=None):
        ceiling = min(2.0, 0.1 * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    passes(check.ex07_backoff(backoff_delay))
    hints(check.ex07_backoff(no_cap), "cap")
    hints(check.ex07_backoff(full_jitter), "at least half")
    hints(check.ex07_backoff(no_jitter), "retry storm")
    hints(check.ex07_backoff(ignores_retry_after), "Retry-After")
    hints(check.ex07_backoff(lambda attempt, retry_after=None: "soon"), "number of seconds")


# -- 08 ----------------------------------------------------------------------------------

NEW_ASYNC_CHECKS = [check.ex08_charge, check.ex08_polite]


@pytest.mark.parametrize("ex", NEW_ASYNC_CHECKS, ids=lambda f: f.__name__)
def test_capstone_checks_turn_learner_errors_into_hints(ex):
    unanswered(ex(None))
    unanswered(ex(not_implemented))
    hints(ex(raises), "KeyError")
    hints(ex(hangs), "did not finish")
    hints(ex(42), "pass the function itself")
    hints(ex(lambda *a, **k: None), "async def")


async def audit():
    await asyncio.sleep(0.001)


def test_ex08_charge():
    async def charge(budget, tokens):
        async with budget["lock"]:
            if budget["spent"] + tokens > budget["limit"]:
                return False
            await audit()
            budget["spent"] += tokens
            return True

    async def no_lock(budget, tokens):
        if budget["spent"] + tokens > budget["limit"]:
            return False
        await audit()
        budget["spent"] += tokens
        return True

    async def lock_only_the_update(budget, tokens):
        if budget["spent"] + tokens > budget["limit"]:
            return False
        await audit()
        async with budget["lock"]:
            budget["spent"] += tokens
        return True

    async def never_grants(budget, tokens):
        return False

    passes(check.ex08_charge(charge))
    hints(check.ex08_charge(no_lock), "same `async with budget['lock']`")
    hints(check.ex08_charge(lock_only_the_update), "same `async with budget['lock']`")
    hints(check.ex08_charge(never_grants), "expected 3 charges")


def test_ex08_polite():
    from asynclab.llm import RateLimited, ServerError

    async def polite_complete(llm, prompt):
        for attempt in range(10):
            try:
                return await llm.complete(prompt, max_tokens=8)
            except RateLimited as e:
                if attempt == 9:
                    raise
                await asyncio.sleep(e.retry_after)
            except ServerError:
                if attempt == 9:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))

    async def no_retry(llm, prompt):
        return await llm.complete(prompt, max_tokens=8)

    async def fixed_pause(llm, prompt):
        for _ in range(100):
            try:
                return await llm.complete(prompt, max_tokens=8)
            except (RateLimited, ServerError):
                await asyncio.sleep(0.001)
        return None

    async def forgets_the_answer(llm, prompt):
        await polite_complete(llm, prompt)

    passes(check.ex08_polite(polite_complete))
    hints(check.ex08_polite(no_retry), "escaped", "retry")
    hints(check.ex08_polite(fixed_pause), "retry_after")
    hints(check.ex08_polite(forgets_the_answer), "return the Completion")


# -- 09 ----------------------------------------------------------------------------------

def test_ex09_choices():
    passes(check.ex09_choices(dict(check.EX09_MATCH)))
    unanswered(check.ex09_choices(None))
    unanswered(check.ex09_choices(dict.fromkeys(check.EX09_MATCH)))
    pdfs = "summarise 20 PDFs with a pure-Python parser"
    hints(check.ex09_choices(dict(check.EX09_MATCH, **{pdfs: "to_thread"})), "GIL")
    report = "three agents fill one report; if one fails, cancel the others"
    hints(check.ex09_choices(dict(check.EX09_MATCH, **{report: "gather"})), "leaves the other")
    hints(check.ex09_choices(dict(check.EX09_MATCH, **{pdfs: "lock"})), "section 3")
    hints(check.ex09_choices(dict(check.EX09_MATCH, **{pdfs: "threads"})), "answer one of")
    for odd in ("many", -5, [1], {"a": 1}, float("nan")):
        hints(check.ex09_choices(odd), "keep choices")


def test_ex09_gather():
    passes(check.ex09_gather(["slow", "fast"]))
    passes(check.ex09_gather(("slow", "fast")))
    unanswered(check.ex09_gather(None))
    hints(check.ex09_gather(["fast", "slow"]), "completion order")
    for odd in ("many", -5, [1], {"a": 1}, float("nan"), ["slow"]):
        hints(check.ex09_gather(odd), "one result per argument")


def test_ex09_acquire_order():
    passes(check.ex09_acquire_order(sorted))
    passes(check.ex09_acquire_order(lambda names: sorted(names, reverse=True)))
    unanswered(check.ex09_acquire_order(None))
    unanswered(check.ex09_acquire_order(plain_not_implemented))
    hints(check.ex09_acquire_order(lambda names: names), "deadlock", "same order")
    hints(check.ex09_acquire_order(lambda names: names[:1]), "every name")
    hints(check.ex09_acquire_order(lambda names: None), "every name")
    hints(check.ex09_acquire_order(lambda names: 1 / 0), "ZeroDivisionError")
    hints(check.ex09_acquire_order(42), "pass the function itself")
    hints(check.ex09_acquire_order(not_implemented), "plain def")


# -- 10 ----------------------------------------------------------------------------------

def test_ex10_min_task():
    pytest.importorskip("distributed")
    cost = {"tiny": {"cluster": 2.5}}
    passes(check.ex10_min_task(10 * 2.5, cost))
    unanswered(check.ex10_min_task(None, cost))
    hints(check.ex10_min_task(2.5, cost), "the hop itself")
    hints(check.ex10_min_task(100, cost), "10 times the hop")
    hints(check.ex10_min_task(25, {}), "nothing measured")
    for odd in ("many", -5, [1], {"a": 1}, float("nan"), True):
        hints(check.ex10_min_task(odd, cost), "positive number")


def test_ex10_without_dask(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    for verdict in (check.ex10_min_task(25, {"tiny": {"cluster": 2.5}}),
                    check.ex10_call_tool(not_implemented)):
        assert not verdict.passed and "Dask is not installed" in verdict.message, verdict


async def call_tool(client, ms, limit_s):
    from asynclab.workloads import burn

    future = client.submit(burn, ms, pure=False)
    try:
        async with asyncio.timeout(limit_s):
            return await future
    except TimeoutError:
        await future.cancel()
        return "timed out"


def test_ex10_call_tool(monkeypatch):
    pytest.importorskip("distributed")
    from asynclab.workloads import burn

    async def never_cancels(client, ms, limit_s):
        future = client.submit(burn, ms, pure=False)
        try:
            async with asyncio.timeout(limit_s):
                return await future
        except TimeoutError:
            return "timed out"

    async def lets_timeout_escape(client, ms, limit_s):
        async with asyncio.timeout(limit_s):
            return await client.submit(burn, ms, pure=False)

    unanswered(check.ex10_call_tool(None))
    unanswered(check.ex10_call_tool(not_implemented))  # probed: no cluster started
    hints(check.ex10_call_tool(42), "pass the function itself")
    hints(check.ex10_call_tool(lambda *a: None), "async def")
    hints(check.ex10_call_tool(raises), "KeyError")
    hints(check.ex10_call_tool(hangs), "did not finish")       # bounded: 3 x TIMEOUT
    monkeypatch.setattr(check, "TIMEOUT", 10.0)  # the passing runs: room for a busy machine
    passes(check.ex10_call_tool(call_tool))
    hints(check.ex10_call_tool(never_cancels), "cancel the future")
    hints(check.ex10_call_tool(lets_timeout_escape), "TimeoutError escaped")
