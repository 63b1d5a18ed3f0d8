import asyncio
import math

import pytest
from asynclab.llm import RateLimited, ServerError, SimulatedLLM


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize(("kwargs", "exc", "name"), [
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, TypeError, "seed"),
    ({"time_scale": 0}, ValueError, "time_scale"),
    ({"ttft_median": 0}, ValueError, "ttft_median"),
    ({"ttft_p95": 0.1}, ValueError, "ttft_p95"),
    ({"tokens_per_s": -1}, ValueError, "tokens_per_s"),
    ({"tokens_per_s_sd": 100}, ValueError, "tokens_per_s_sd"),
    ({"rpm": 0}, ValueError, "rpm"),
    ({"rpm": "50"}, TypeError, "rpm"),
    ({"burst": 0}, ValueError, "burst"),
    ({"error_rate": 1.5}, ValueError, "error_rate"),
])
def test_arguments_are_validated_naming_the_parameter(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        SimulatedLLM(**kwargs)


def test_request_arguments_are_validated():
    llm = SimulatedLLM(rpm=None, error_rate=0)
    with pytest.raises(TypeError, match="prompt"):
        run(llm.complete(3))
    with pytest.raises(ValueError, match="prompt"):
        run(llm.complete(""))
    with pytest.raises(ValueError, match="max_tokens"):
        run(llm.complete("hi", max_tokens=0))


def test_same_seed_same_answers_and_timing_scales():
    a = SimulatedLLM(seed=3, time_scale=0.01, rpm=None, error_rate=0)
    b = SimulatedLLM(seed=3, time_scale=0.01, rpm=None, error_rate=0)
    assert run(a.complete("q", max_tokens=5)) == run(b.complete("q", max_tokens=5))
    assert a._draw("q", 3) == b._draw("q", 3)
    ttft, per_token, tokens = a._draw("q", 4)
    assert len(tokens) == 4 and 0 < per_token < 0.01 and ttft > 0


def test_ttft_is_lognormal_with_the_given_median_and_p95():
    llm = SimulatedLLM(seed=0, time_scale=1.0, rpm=None, error_rate=0)
    draws = sorted(llm._draw("q", 1)[0] for _ in range(4000))
    median, p95 = draws[2000], draws[3800]
    assert math.isclose(median, 0.4, rel_tol=0.1) and math.isclose(p95, 2.0, rel_tol=0.15)


def test_stream_yields_max_tokens_tokens():
    llm = SimulatedLLM(seed=0, time_scale=0.01, rpm=None, error_rate=0)

    async def collect():
        return [t async for t in llm.stream("write", max_tokens=7)]

    tokens = run(collect())
    assert len(tokens) == 7 and all(isinstance(t, str) and t for t in tokens)


def test_rate_limit_answers_429_with_spread_retry_after():
    llm = SimulatedLLM(seed=0, time_scale=0.01, rpm=600, burst=2, error_rate=0)

    async def burst():
        return await asyncio.gather(*(llm.complete(f"q{i}", max_tokens=1) for i in range(5)),
                                    return_exceptions=True)

    results = run(burst())
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert len(limited) == 3 and llm.stats()["rate_limited"] == 3
    waits = [r.retry_after for r in limited]
    assert waits == sorted(waits) and len(set(waits)) == 3  # one slot each, not a storm
    assert all(w > 0 for w in waits)


def test_retry_after_honoured_gets_through():
    llm = SimulatedLLM(seed=0, time_scale=0.01, rpm=600, burst=2, error_rate=0)

    async def polite(i):
        while True:
            try:
                return await llm.complete(f"q{i}", max_tokens=1)
            except RateLimited as e:
                await asyncio.sleep(e.retry_after)

    async def main():
        return await asyncio.gather(*(polite(i) for i in range(8)))

    assert len(run(main())) == 8
    # 6 rejected in the first wave; a late first-wave request may take a promised slot
    assert llm.stats()["rate_limited"] <= 2 * 6


def test_server_errors_at_the_given_rate():
    llm = SimulatedLLM(seed=0, time_scale=0.0001, rpm=None, error_rate=0.5)

    async def many():
        return await asyncio.gather(*(llm.complete("q", max_tokens=1) for _ in range(200)),
                                    return_exceptions=True)

    errors = sum(isinstance(r, ServerError) for r in run(many()))
    assert 70 < errors < 130 and llm.stats()["server_errors"] == errors
