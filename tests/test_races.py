"""asynclab.races: repeated seeded trials, their histogram, and threads that always join."""

import asyncio
import threading
import time

import pytest
from asynclab.races import Trials, plot_trials, run_in_threads, run_trials
from matplotlib.figure import Figure


async def race(tasks, iterations, p_yield, rng, locked=False):
    counter = 0
    lock = asyncio.Lock() if locked else None

    async def increment():
        nonlocal counter
        for _ in range(iterations):
            if lock:
                await lock.acquire()
            seen = counter
            if rng.random() < p_yield:
                await asyncio.sleep(0)
            counter = seen + 1
            if lock:
                lock.release()

    await asyncio.gather(*(increment() for _ in range(tasks)))
    return counter


def test_bare_yields_are_deterministic_and_lose_half():
    r = run_trials(race, trials=10, expected=100, tasks=2, iterations=50, p_yield=1.0)
    assert r.counts == (50,) * 10 and r.lost == [50] * 10 and not r.exact


def test_irregular_yields_spread_and_the_lock_makes_every_trial_exact():
    r = run_trials(race, trials=50, expected=100, seed=1, tasks=2, iterations=50, p_yield=0.5)
    assert len(r.distinct) > 1 and max(r.counts) < 100
    locked = run_trials(race, trials=50, expected=100, seed=1, tasks=2, iterations=50,
                        p_yield=0.5, locked=True)
    assert locked.exact and locked.distinct == [100]


def test_same_seed_same_counts_other_seed_other_counts():
    kw = dict(trials=30, expected=100, tasks=2, iterations=50, p_yield=0.3)
    assert run_trials(race, seed=3, **kw) == run_trials(race, seed=3, **kw)
    assert run_trials(race, seed=3, **kw).counts != run_trials(race, seed=4, **kw).counts


def test_trials_str_names_the_numbers():
    text = str(Trials("no lock", 10, (10, 8, 8)))
    assert text.startswith("no lock: 3 trials, expected 10") and "(2 distinct)" in text
    assert "2 of 3 trials lost updates (at most 2)" in text


@pytest.mark.parametrize("kwargs, error", [
    (dict(trials=0, expected=1), ValueError),
    (dict(trials=10_001, expected=1), ValueError),
    (dict(trials=1.5, expected=1), TypeError),
    (dict(trials=1, expected=-1), ValueError),
    (dict(trials=1, expected=1, seed=-1), ValueError),
    (dict(trials=1, expected=1, rng=None), ValueError),
    (dict(trials=1, expected=1, label=3), TypeError),
])
def test_run_trials_checks_its_arguments(kwargs, error):
    with pytest.raises(error):
        run_trials(race, tasks=1, iterations=1, p_yield=0.0, **kwargs)


def test_run_trials_rejects_a_race_that_returns_no_count():
    async def no_count(rng):
        return None

    with pytest.raises(TypeError, match="final count"):
        run_trials(no_count, trials=1, expected=0)
    with pytest.raises(TypeError, match="race must be callable"):
        run_trials(3, trials=1, expected=0)


def test_plot_trials_draws_one_panel_per_result_even_when_nothing_is_lost():
    exact = Trials("lock", 5, (5, 5))
    lossy = Trials("no lock", 5, (3, 4, 5))
    fig = plot_trials(lossy, exact, title="t")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert isinstance(plot_trials(exact), Figure)
    with pytest.raises(ValueError):
        plot_trials()
    with pytest.raises(TypeError):
        plot_trials([1, 2])


def test_run_in_threads_runs_together_returns_errors_and_joins():
    seen = set()

    def work(fail_in):
        seen.add(threading.current_thread().name)
        if threading.current_thread().name == fail_in:
            raise KeyError("boom")

    ran = run_in_threads(work, 3, ("racer-1",))
    assert seen == {"racer-0", "racer-1", "racer-2"}
    assert [type(e).__name__ if e else None for e in ran.errors] == [None, "KeyError", None]
    assert len(ran.raised) == 1 and ran.wall_s >= 0


def test_run_in_threads_reports_a_thread_that_outlives_its_timeout():
    stop = threading.Event()
    try:
        ran = run_in_threads(stop.wait, 1, (5,), timeout=0.05)
        assert isinstance(ran.errors[0], TimeoutError)
    finally:
        stop.set()
        time.sleep(0.05)


@pytest.mark.parametrize("kwargs, error", [
    (dict(target=print, threads=0), ValueError),
    (dict(target=print, threads=65), ValueError),
    (dict(target=None, threads=1), TypeError),
    (dict(target=print, threads=1, timeout=0), ValueError),
])
def test_run_in_threads_checks_its_arguments(kwargs, error):
    with pytest.raises(error):
        run_in_threads(**kwargs)
