import math
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import matplotlib
import pytest
from asynclab.palette import SERIES
from asynclab.plotting import COLORS
from asynclab.sweep import (
    SweepPoint,
    efficiency,
    ideal_makespan,
    ideal_throughput,
    payload_job,
    plot_sweep,
    progress,
    sleep_job,
    sweep,
)

matplotlib.use("Agg")


@pytest.mark.parametrize(
    ("jobs", "workers", "latency", "expected"),
    [(100, 10, 0.05, 0.5), (64, 1, 0.01, 0.64), (64, 64, 0.01, 0.01), (10, 3, 1.0, 4.0),
     (5, 64, 0.02, 0.02)],
)
def test_ideal_makespan_is_ceil_jobs_over_workers_waves(jobs, workers, latency, expected):
    assert ideal_makespan(jobs, workers, latency) == pytest.approx(expected)


def test_ideal_throughput_is_workers_over_latency_or_capped_by_jobs():
    assert ideal_throughput(8, 0.01) == pytest.approx(800)
    assert ideal_throughput(8, 0.01, jobs=64) == pytest.approx(800)
    assert ideal_throughput(64, 0.01, jobs=32) == pytest.approx(3200)  # one wave of 32
    assert ideal_throughput(3, 1.0, jobs=10) == pytest.approx(10 / 4)


def test_efficiency_is_ideal_over_measured():
    assert efficiency(0.5, 0.625) == pytest.approx(0.8)
    assert efficiency(1, 1) == 1.0


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda: ideal_makespan(0, 1, 0.1), ValueError, "jobs must be between 1"),
        (lambda: ideal_makespan(1, 0, 0.1), ValueError, "workers must be between 1 and 1024"),
        (lambda: ideal_makespan(1, 1, 0), ValueError, "latency_s must be greater than 0"),
        (lambda: ideal_makespan(1.5, 1, 0.1), TypeError, "jobs must be an integer"),
        (lambda: ideal_throughput(True, 0.1), TypeError, "workers must be an integer"),
        (lambda: efficiency(1, 0), ValueError, "measured_s must be greater than 0"),
        (lambda: efficiency("1", 1), TypeError, "ideal_s must be a number"),
    ],
)
def test_arguments_are_checked_at_the_door(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_sweep_measures_each_worker_count_against_the_ideal():
    seen = []

    def trial(n):
        seen.append(n)
        return {"makespan_s": ideal_makespan(8, n, 0.01) * 1.25, "threads": n}

    points = sweep(trial, [1, 2, 4], jobs=8, latency_s=0.01, show_progress=False)
    assert seen == [1, 2, 4]
    assert [p.workers for p in points] == [1, 2, 4]
    for p in points:
        assert isinstance(p, SweepPoint)
        assert p.efficiency == pytest.approx(0.8)
        assert p.throughput == pytest.approx(0.8 * p.ideal_throughput)
        assert p.extra == {"threads": p.workers}
    assert points[0].ideal_s == pytest.approx(0.08)


def test_sweep_accepts_a_plain_makespan():
    points = sweep(lambda n: 0.1, [2], jobs=4, latency_s=0.05, show_progress=False)
    assert points[0].efficiency == pytest.approx(1.0) and points[0].extra == {}


def test_sweep_of_a_real_thread_pool_is_near_ideal_for_small_pools():
    def trial(n):  # best of 3: a busy machine can only slow a run down
        runs = []
        for _ in range(3):
            with ThreadPoolExecutor(max_workers=n) as pool:
                t0 = time.perf_counter()
                list(pool.map(sleep_job, [0.02] * 8))
                runs.append(time.perf_counter() - t0)
        return min(runs)

    points = sweep(trial, [1, 4], jobs=8, latency_s=0.02, show_progress=False)
    for p in points:
        assert p.makespan_s >= 0.98 * p.ideal_s
        assert p.efficiency >= 0.5  # loose: the lesson's tighter check lives in the notebook
    assert points[1].throughput > 2 * points[0].throughput


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"trial": 1}, TypeError, "trial must be callable"),
        ({"workers": []}, TypeError, "workers must be a non-empty list"),
        ({"workers": 4}, TypeError, "workers must be a non-empty list"),
        ({"workers": [0]}, ValueError, r"workers\[\] must be between 1"),
        ({"jobs": 0}, ValueError, "jobs must be between 1"),
        ({"latency_s": -1}, ValueError, "latency_s must be greater than 0"),
        ({"trial": lambda n: {"x": 1}}, ValueError, "must include 'makespan_s'"),
        ({"trial": lambda n: 0}, ValueError, "makespan_s"),
    ],
)
def test_sweep_rejects_bad_arguments(kwargs, exc, message):
    args = {"trial": lambda n: 0.1, "workers": [1], "jobs": 2, "latency_s": 0.05,
            "show_progress": False, **kwargs}
    trial, workers = args.pop("trial"), args.pop("workers")
    with pytest.raises(exc, match=message):
        sweep(trial, workers, **args)


def test_progress_bar_counts_steps_and_is_silent_in_scripts(capsys):
    with progress(3, "sweep", show=True) as bar:
        for _ in range(3):
            bar.update()
        assert bar.n == 3 and bar.total == 3 and bar.desc == "sweep" and not bar.disable
    assert bar.disable  # closed on the way out (tqdm disables a closed bar)
    assert "3/3" in capsys.readouterr().err  # shown: outside a notebook, tqdm writes to stderr
    with progress(2, show=False) as quiet:
        quiet.update()  # a no-op: nothing shown
    assert quiet.disable and capsys.readouterr().err == ""
    with pytest.raises(RuntimeError), progress(5, show=True) as failing:
        raise RuntimeError
    assert failing.disable  # closed when the block fails too
    with pytest.raises(ValueError, match="total must be between 0"):
        with progress(-1):
            pass


def test_plot_sweep_draws_measured_and_ideal_in_house_colours():
    points = sweep(lambda n: ideal_makespan(8, n, 0.01) * 1.1, [1, 2, 4, 8], jobs=8,
                   latency_s=0.01, show_progress=False)
    fig = plot_sweep(points, title="a title")
    assert len(fig.axes) == 3
    for ax in fig.axes:
        colours = {line.get_color() for line in ax.get_lines()}
        assert COLORS["ideal"] in colours and SERIES[0] in colours
        assert ax.get_xscale() == "log"
    assert "a title" in fig._suptitle.get_text()
    measured = fig.axes[2].get_lines()[1].get_ydata()
    assert all(math.isclose(y, 1 / 1.1) for y in measured)
    with pytest.raises(TypeError, match="points must be a non-empty list of SweepPoint"):
        plot_sweep([])


def test_sleep_job_waits_and_rejects_bad_durations():
    assert sleep_job(0.01) >= 0.009
    with pytest.raises(ValueError, match="seconds must be at least 0"):
        sleep_job(-1)


def test_jobs_run_in_spawned_process_workers():
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        assert pool.submit(payload_job, b"abc").result() == 3
        assert pool.submit(sleep_job, 0).result() >= 0


# -- cpu_rounds and pickling_cost ---------------------------------------------------------

def test_cpu_rounds_keeps_each_pools_best_round_and_counts_other_programs():
    from asynclab.sweep import CpuRound, cpu_rounds

    with ThreadPoolExecutor(max_workers=2) as threads:
        best = cpu_rounds({"threads": threads}, [5, 5], goal=1024, rounds=2)
    r = best["threads"]
    assert isinstance(r, CpuRound) and set(best) == {"threads"}
    assert 0 < r.cores_used <= 2.2 and r.wall_ms >= 9 and r.others >= 0  # two 5 ms jobs


def test_cpu_rounds_stops_when_the_goal_is_reached_and_validates():
    from asynclab.sweep import cpu_rounds

    calls = []

    class Counting(ThreadPoolExecutor):
        def map(self, *a, **k):
            calls.append(1)
            return super().map(*a, **k)

    with Counting(max_workers=1) as pool:
        cpu_rounds({"one": pool}, [1], goal=0.0, rounds=10)
        assert len(calls) == 2  # at least two rounds, then the goal (0 cores) is met
        with pytest.raises(TypeError):
            cpu_rounds({}, [1], goal=1)
        with pytest.raises(ValueError):
            cpu_rounds({"one": pool}, [], goal=1)
        with pytest.raises(ValueError):
            cpu_rounds({"one": pool}, [1], goal=1, rounds=1)


def test_pickling_cost_grows_with_the_argument_in_a_process_pool():
    from asynclab.sweep import pickling_cost

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as procs:
        pickling_cost(procs, b"x", calls=1)  # start the worker
        small = pickling_cost(procs, b"x")
        big = pickling_cost(procs, bytes(8_000_000))
    assert big > small


def test_pickling_cost_is_the_fastest_call_not_the_mean():
    # A pool whose second call is quick and the others slow (a worker woken late by a busy
    # machine): the cost is the quick call's, where a mean would be ten times it.
    from concurrent.futures import Executor, Future

    from asynclab.sweep import pickling_cost

    class Uneven(Executor):
        delays = iter([0.06, 0.002, 0.06])

        def submit(self, fn, /, *args, **kwargs):
            time.sleep(next(self.delays))
            done = Future()
            done.set_result(fn(*args, **kwargs))
            return done

    assert 0.002 <= pickling_cost(Uneven(), b"x", calls=3) < 0.02


def test_a_notebook_progress_bar_leaves_no_dead_weak_proxy(monkeypatch):
    import gc

    import asynclab.sweep as sweep_module
    from tqdm.notebook import tqdm as notebook_tqdm

    class Bar(notebook_tqdm):
        monitor_interval = 0  # no monitor thread (as sweep's own bar)

    monkeypatch.setattr(sweep_module, "_bar_class", lambda: Bar)
    with progress(3, "test", show=True) as bar:
        bar.update(3)
        container = bar.container
    del bar
    gc.collect()
    assert getattr(container, "pbar", None) is None
    isinstance(container.__dict__.get("pbar"), int)  # would raise ReferenceError if dead
    container.close()


def test_request_cost_is_the_fastest_get_and_grows_with_the_servers_wait():
    from asynclab.sweep import request_cost
    from asynclab.toolserver import serve

    with serve(latency=0.0) as server:
        quick = request_cost(f"{server.url}/page/0?latency=0", calls=3)
        slow = request_cost(f"{server.url}/page/0?latency=0.05", calls=2)
        assert 0 < quick < 0.05 <= slow  # the fastest GET: it includes the server's wait
        assert server.stats()["by_endpoint"]["page"] == 5  # one request per call
        with pytest.raises(Exception, match="404"):
            request_cost(f"{server.url}/nowhere", calls=1)  # an error answer is not a cost
    for bad in ("localhost:1/page/0", 3):
        with pytest.raises(ValueError, match="url must be an http"):
            request_cost(bad)
    with pytest.raises(ValueError, match="calls"):
        request_cost("http://127.0.0.1:1/", calls=0)


def test_sweep_runs_a_size_again_while_it_is_far_from_ideal_and_keeps_its_best():
    from asynclab.sweep import sweep

    made = {1: iter([0.2, 0.105, 0.1]), 2: iter([0.05]), 4: iter([0.1, 0.1, 0.1, 0.1])}
    calls = []

    def trial(n):  # 10 jobs of 10 ms: ideal 0.1 s on 1 worker, 0.05 s on 2, 0.03 s on 4
        calls.append(n)
        return {"makespan_s": next(made[n]), "n": n}

    points = sweep(trial, [1, 2, 4], jobs=10, latency_s=0.01, show_progress=False,
                   again_below=0.9, max_runs=3)
    # 1: 0.2 s is far from ideal, 0.105 close enough; 2: ideal at once; 4: never close, 3 runs
    assert calls == [1, 1, 2, 4, 4, 4]
    assert [p.makespan_s for p in points] == [0.105, 0.05, 0.1]
    assert [p.extra["runs"] for p in points] == [2, 1, 3] and points[0].extra["n"] == 1
    once = sweep(lambda n: 0.5, [1], jobs=10, latency_s=0.01, show_progress=False)
    assert "runs" not in once[0].extra  # without again_below: one run, as before
    for bad in ({"again_below": 0}, {"again_below": 1.5}, {"max_runs": 0}, {"budget_s": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            sweep(trial, [1], jobs=10, latency_s=0.01, show_progress=False, **bad)


def test_sweep_stops_running_a_size_again_when_its_budget_is_spent():
    import time as _time

    from asynclab.sweep import sweep

    calls = []

    def slow_trial(n):
        calls.append(n)
        _time.sleep(0.03)
        return 1.0  # never near the 0.01 s ideal

    sweep(slow_trial, [1], jobs=1, latency_s=0.01, show_progress=False,
          again_below=0.9, max_runs=50, budget_s=0.05)
    assert 2 <= len(calls) <= 4, calls
