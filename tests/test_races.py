"""asynclab.races: repeated seeded trials, their histogram, and threads that always join."""

import asyncio
import os
import threading
import time

import pytest
from asynclab.races import Trials, budget_db, plot_trials, run_in_threads, run_loops, run_trials
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


def test_run_in_threads_sets_the_switch_interval_and_restores_it():
    import sys

    before = sys.getswitchinterval()
    seen = []
    ran = run_in_threads(lambda: seen.append(sys.getswitchinterval()), 2, switch_interval=1e-4)
    assert not ran.raised and seen == pytest.approx([1e-4, 1e-4])
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError):
        run_in_threads(print, 1, switch_interval=0)
    assert sys.getswitchinterval() == before


def test_run_loops_gives_each_thread_its_own_loop_and_returns_in_order():
    async def main(i):
        await asyncio.sleep(0.01)
        return i, id(asyncio.get_running_loop())

    results = run_loops(main, 3)
    assert [i for i, _ in results] == [0, 1, 2]
    assert len({loop for _, loop in results}) == 3  # three loops at once


def test_run_loops_raises_the_first_error_after_joining_and_bounds_each_loop():
    async def fails(i):
        if i == 1:
            raise KeyError("boom")
        return i

    with pytest.raises(KeyError):
        run_loops(fails, 2)

    async def hangs(i):
        await asyncio.sleep(10)

    t0 = time.perf_counter()
    with pytest.raises(TimeoutError):
        run_loops(hangs, 2, timeout=0.05)
    assert time.perf_counter() - t0 < 5
    with pytest.raises(ValueError):
        run_loops(fails, 0)


def test_an_asyncio_lock_per_loop_does_not_stop_overspending_but_a_conditional_update_does():
    import contextlib
    import sqlite3

    async def read_then_write(db, lock):
        async with lock:
            (tokens,) = db.execute("SELECT tokens FROM budget").fetchone()
            if tokens < 100:
                return False
            await asyncio.sleep(0.002)
            db.execute("UPDATE budget SET tokens = ?", (tokens - 100,))
            db.commit()
            return True

    async def atomic(db, lock):
        cur = db.execute("UPDATE budget SET tokens = tokens - 100 WHERE tokens >= 100")
        db.commit()
        return cur.rowcount == 1

    def process(path, reserve):
        async def main(i):
            lock, calls = asyncio.Lock(), 0
            with contextlib.closing(sqlite3.connect(path)) as db:
                while await reserve(db, lock):
                    await asyncio.sleep(0.01)
                    calls += 1
            return calls
        return main

    with budget_db(1000) as store:
        assert store.tokens() == 1000
        assert sum(run_loops(process(store.path, read_then_write), 3)) > 10
        folder = os.path.dirname(store.path)
    assert not os.path.exists(folder)  # removed on exit
    with budget_db(1000) as store:
        assert sum(run_loops(process(store.path, atomic), 3)) == 10 and store.tokens() == 0
    with pytest.raises(ValueError):
        with budget_db(-1):
            pass
