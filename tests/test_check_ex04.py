"""asynclab.check.ex04: the checks of notebook 04 (race conditions)."""

import asyncio

import asynclab.check as check
import numpy as np
from asynclab.check import ex04
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
)


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
    await asyncio.sleep(ex04.EX04_LLM_LATENCY)


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


def test_ex04_prediction_accepts_other_spellings_of_the_number():
    passes(check.ex04_prediction(100.0))
    passes(check.ex04_prediction(int("100")))
    passes(check.ex04_prediction(np.int64(100)))  # a number numpy computed
    hints(check.ex04_prediction("100"), "without quotes")
    hints(check.ex04_prediction("a hundred"), "must be a number, got 'a hundred'")
    hints(check.ex04_prediction(np.bool_(True)), "must be a number")


def test_ex04_increment_accepts_other_correct_shapes():
    async def yield_first(state, iterations):
        for _ in range(iterations):
            await asyncio.sleep(0)
            state["count"] = state["count"] + 1

    async def while_loop(state, iterations):
        done = 0
        while done < iterations:
            state.update(count=state["count"] + 1)
            done += 1
            await asyncio.sleep(0)

    passes(check.ex04_increment(yield_first))
    passes(check.ex04_increment(while_loop))


def test_ex04_store_agent_accepts_other_correct_shapes():
    async def acquire_release(store, lock, cost, calls):
        while True:
            await lock.acquire()
            try:
                tokens = await store.get()
                enough = tokens >= cost
                if enough:
                    await store.set(tokens - cost)
            finally:
                lock.release()
            if not enough:
                break
            await fake_llm_call(cost)
            calls.append(cost)

    async def reserve_helper(store, lock, cost, calls):
        async def reserve():
            async with lock:
                if (left := await store.get()) < cost:
                    return False
                await store.set(left - cost)
                return True

        while await reserve():
            await fake_llm_call(cost)
            calls.append(cost)

    passes(check.ex04_store_agent(acquire_release))
    passes(check.ex04_store_agent(reserve_helper))
