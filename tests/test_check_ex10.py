"""asynclab.check.ex10: the checks of notebook 10 (beyond one machine)."""

import asyncio

import asynclab.check as check
import asynclab.check.core as core
import pytest
from test_check_core import (
    hangs,
    hints,
    not_implemented,
    passes,
    raises,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)


def test_ex10_min_task():
    pytest.importorskip("distributed")
    hop, cost = 12.5, {"tiny": {"cluster": 0.8}}
    passes(check.ex10_min_task(9 * hop, hop, cost))
    passes(check.ex10_min_task(hop / 0.1 - hop, hop, cost))      # written from the definition
    passes(check.ex10_min_task(hop * 0.9 / 0.1, hop, cost))      # float rounding does not decide
    passes(check.ex10_min_task(round(9 * hop), hop, cost))       # rounded to whole ms
    unanswered(check.ex10_min_task(None, hop, cost))
    hints(check.ex10_min_task(hop, hop, cost), "the hop itself")
    hints(check.ex10_min_task(10 * hop, hop, cost), "not the least", "hop + work")
    hints(check.ex10_min_task(hop / 0.1 * 0.1, hop, cost), "the hop itself")
    hints(check.ex10_min_task(0.1 * hop, hop, cost), "more than 10%")
    hints(check.ex10_min_task(1000, hop, cost), "under 10%", "more work than needed")
    hints(check.ex10_min_task(9 * 0.8, hop, cost), "200 tasks in flight", "CALL_MS")
    hints(check.ex10_min_task(10 * 0.8, hop, cost), "200 tasks in flight")
    hints(check.ex10_min_task(25, None, {}), "nothing measured")
    for odd in ("many", -5, [1], {"a": 1}, float("nan"), True):
        hints(check.ex10_min_task(odd, hop, cost), "positive number")


def test_ex10_without_dask(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "distributed" else real(name, *a))
    for verdict in (check.ex10_min_task(25, 2.5, {"tiny": {"cluster": 2.5}}),
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
    monkeypatch.setattr(core, "TIMEOUT", 10.0)  # the passing runs: room for a busy machine
    passes(check.ex10_call_tool(call_tool))
    hints(check.ex10_call_tool(never_cancels), "cancel the future")
    hints(check.ex10_call_tool(lets_timeout_escape), "TimeoutError escaped")
