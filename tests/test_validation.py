"""Bad input to any public function gets a clear error before any work starts.

One table for the whole helper package: each row calls a function with one bad argument
and names the exception and the parameter the message must mention. The autouse fixture
in conftest.py also checks that no thread, server or patch was left behind.
"""

import asyncio

import asynclab
import ipywidgets as W
import pytest
from asynclab.heartbeat import heartbeat
from asynclab.races import plot_trials, run_in_threads, run_trials
from asynclab.toolserver import serve


async def _noop():
    return 0


async def _race(rng):
    return 0


def _coro_not_started(fn):
    """Call ``fn`` with a fresh coroutine; return whether the coroutine ever started."""
    started = []

    async def probe():
        started.append(True)

    coro = probe()
    try:
        fn(coro)
    finally:
        coro.close()
    return bool(started)


@pytest.fixture(scope="module")
def tl():
    async def main():
        with asynclab.record() as t:
            await asyncio.gather(asyncio.sleep(0), asyncio.to_thread(int))
        return t

    return asynclab.run(main())


def _heartbeat(interval):
    async def main():
        async with heartbeat(interval):
            pass

    asynclab.run(main())


def _serve(**kwargs):
    with serve(**kwargs):
        pass


def _configure(**kwargs):
    with serve() as server:
        server.configure(**kwargs)


def _panel(experiment=lambda **k: None, **controls):
    asynclab.Panel(experiment, **controls)


CASES = [
    # asynclab.run
    ("run: a function, not a coroutine", lambda: asynclab.run(_noop), TypeError, "coro"),
    ("run: None", lambda: asynclab.run(None), TypeError, "coro"),
    ("run: a task-like object", lambda: asynclab.run(asyncio.sleep), TypeError, "coro"),
    ("run: timeout zero", lambda: _coro_not_started(lambda c: asynclab.run(c, timeout=0)), ValueError, "timeout"),
    ("run: timeout negative", lambda: _coro_not_started(lambda c: asynclab.run(c, timeout=-5)), ValueError, "timeout"),
    ("run: timeout absurd", lambda: _coro_not_started(lambda c: asynclab.run(c, timeout=1e9)), ValueError, "timeout"),
    ("run: timeout nan", lambda: _coro_not_started(lambda c: asynclab.run(c, timeout=float("nan"))), ValueError, "timeout"),
    ("run: timeout string", lambda: _coro_not_started(lambda c: asynclab.run(c, timeout="5")), TypeError, "timeout"),
    ("run: timeout bool", lambda: _coro_not_started(lambda c: asynclab.run(c, timeout=True)), TypeError, "timeout"),
    # asynclab.traced_pool
    ("traced_pool: zero workers", lambda: asynclab.traced_pool(0), ValueError, "max_workers"),
    ("traced_pool: negative workers", lambda: asynclab.traced_pool(-3), ValueError, "max_workers"),
    ("traced_pool: absurd workers", lambda: asynclab.traced_pool(10**6), ValueError, "max_workers"),
    ("traced_pool: float workers", lambda: asynclab.traced_pool(4.0), TypeError, "max_workers"),
    ("traced_pool: string workers", lambda: asynclab.traced_pool("4"), TypeError, "max_workers"),
    ("traced_pool: bool workers", lambda: asynclab.traced_pool(True), TypeError, "max_workers"),
    ("traced_pool: empty name", lambda: asynclab.traced_pool(2, name=""), TypeError, "name"),
    ("traced_pool: name not a string", lambda: asynclab.traced_pool(2, name=7), TypeError, "name"),
    ("traced_pool: name too long", lambda: asynclab.traced_pool(2, name="w" * 41), TypeError, "name"),
    # asynclab.heartbeat
    ("heartbeat: zero interval", lambda: _heartbeat(0), ValueError, "interval"),
    ("heartbeat: interval too long", lambda: _heartbeat(5), ValueError, "interval"),
    ("heartbeat: interval string", lambda: _heartbeat("0.01"), TypeError, "interval"),
    # asynclab.toolserver
    ("serve: negative latency", lambda: _serve(latency=-1), ValueError, "latency"),
    ("serve: absurd latency", lambda: _serve(latency=3600), ValueError, "latency"),
    ("serve: negative jitter", lambda: _serve(jitter=-0.1), ValueError, "jitter"),
    ("serve: failure rate above 1", lambda: _serve(failure_rate=1.5), ValueError, "failure_rate"),
    ("serve: failure rate string", lambda: _serve(failure_rate="often"), TypeError, "failure_rate"),
    ("serve: zero rate limit", lambda: _serve(rate_limit=0), ValueError, "rate_limit"),
    ("serve: negative seed", lambda: _serve(seed=-1), ValueError, "seed"),
    ("serve: port out of range", lambda: _serve(port=70000), ValueError, "port"),
    ("serve: zero connections", lambda: _serve(max_connections=0), ValueError, "max_connections"),
    ("configure: negative latency while running", lambda: _configure(latency=-2), ValueError, "latency"),
    # asynclab.Panel
    ("Panel: experiment not callable", lambda: _panel(42, n=W.IntSlider()), TypeError, "experiment"),
    ("Panel: no controls", lambda: _panel(), ValueError, "controls"),
    ("Panel: a control that is not a widget", lambda: _panel(n=5), TypeError, "control 'n'"),
    # asynclab.races
    ("run_trials: race not callable", lambda: run_trials(3, trials=2, expected=0), TypeError, "race"),
    ("run_trials: zero trials", lambda: run_trials(_race, trials=0, expected=0), ValueError, "trials"),
    ("run_trials: negative expected", lambda: run_trials(_race, trials=1, expected=-1), ValueError, "expected"),
    ("run_trials: seed string", lambda: run_trials(_race, trials=1, expected=0, seed="a"), TypeError, "seed"),
    ("run_trials: rng passed in", lambda: run_trials(_race, trials=1, expected=0, rng=1), ValueError, "rng"),
    ("run_in_threads: zero threads", lambda: run_in_threads(print, 0), ValueError, "threads"),
    ("run_in_threads: target not callable", lambda: run_in_threads(None, 2), TypeError, "target"),
    ("run_in_threads: zero timeout", lambda: run_in_threads(print, 2, timeout=0), ValueError, "timeout"),
]


TIMELINE_CASES = [
    ("summary: negative ideal", lambda t: t.summary(ideal_s=-1), ValueError, "ideal_s"),
    ("summary: ideal string", lambda t: t.summary(ideal_s="1"), TypeError, "ideal_s"),
    ("plot: zero blocked_ms", lambda t: t.plot(blocked_ms=0), ValueError, "blocked_ms"),
    ("plot: zero lanes", lambda t: t.plot(max_task_lanes=0), ValueError, "max_task_lanes"),
    ("plot: absurd width", lambda t: t.plot(width=500), ValueError, "width"),
    ("plot: title not a string", lambda t: t.plot(title=5), TypeError, "title"),
    ("to_perfetto: path not a path", lambda t: t.to_perfetto(3), TypeError, "path"),
    ("steps: unknown task", lambda t: t.steps("nobody"), KeyError, "nobody"),
]


@pytest.mark.parametrize("call, kind, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_parameter(call, kind, names):
    with pytest.raises(kind) as info:
        call()
    assert names in str(info.value)


@pytest.mark.parametrize("call, kind, names", [c[1:] for c in TIMELINE_CASES],
                         ids=[c[0] for c in TIMELINE_CASES])
def test_bad_timeline_options_are_refused_naming_the_parameter(tl, call, kind, names):
    with pytest.raises(kind) as info:
        call(tl)
    assert names in str(info.value)


def test_the_table_covers_at_least_forty_cases():
    assert len(CASES) + len(TIMELINE_CASES) >= 40


def test_a_refused_run_never_starts_its_coroutine():
    assert _coro_not_started(lambda c: pytest.raises(ValueError, asynclab.run, c, timeout=0)) is False


def test_plot_trials_needs_results():
    with pytest.raises((TypeError, ValueError)):
        plot_trials()
