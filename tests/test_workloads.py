import math
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor

import matplotlib
import pytest
from asynclab.workloads import (
    JobTiming,
    add_worker_lanes,
    burn,
    gil_enabled,
    plot_speedups,
    plot_worker_spans,
    spin,
    start_workers,
    timed_burn,
    usable_cores,
)

matplotlib.use("Agg")


def test_spin_adds_up_the_first_n_integers():
    assert spin(0) == 0
    assert spin(10) == 45
    assert spin(1000) == 1000 * 999 // 2


@pytest.mark.parametrize("bad", [-1, 2_000_000_001])
def test_spin_rejects_out_of_range_sizes_naming_the_parameter(bad):
    with pytest.raises(ValueError, match="n must be between"):
        spin(bad)


@pytest.mark.parametrize("bad", [1.5, "10", True, None])
def test_spin_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="n must be an integer"):
        spin(bad)


def test_burn_uses_the_cpu_time_asked_for():
    span = timed_burn(20)
    assert 20e6 <= span.cpu_ns < 30e6  # never less; a little more (the last chunk)
    assert span.end_ns - span.start_ns >= span.cpu_ns * 0.99  # wall time includes the CPU
    assert span.worker.startswith("process ")


def test_burn_of_zero_returns_at_once_and_checks_its_argument():
    assert burn(0) == 0
    with pytest.raises(ValueError, match="ms must be"):
        burn(-1)
    with pytest.raises(TypeError, match="ms must be a number"):
        burn("5")


def test_machine_facts_are_read_not_assumed():
    assert usable_cores() >= 1
    assert isinstance(gil_enabled(), bool)


def test_two_threads_under_the_gil_get_about_one_core_of_work_done():
    from concurrent.futures import ThreadPoolExecutor

    if not gil_enabled():
        pytest.skip("free-threaded build: threads run in parallel")
    best = 0.0
    with ThreadPoolExecutor(2, thread_name_prefix="t") as pool:
        for _ in range(3):
            t0 = time.perf_counter_ns()
            spans = list(pool.map(timed_burn, [30, 30]))
            wall = time.perf_counter_ns() - t0
            best = max(best, sum(s.cpu_ns for s in spans) / wall)
    assert {s.worker for s in spans} <= {"t_0", "t_1"}
    assert best < 1.3


def test_start_workers_boots_every_process_and_jobs_run_there():
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        took = start_workers(pool, 2)
        assert took > 0
        spans = list(pool.map(timed_burn, [5, 5, 5]))
    assert all(s.worker.startswith("process ") for s in spans)
    assert all(s.cpu_ns >= 5e6 for s in spans)


def test_start_workers_checks_its_arguments():
    with pytest.raises(ValueError, match="workers must be between"):
        start_workers(None, 0)
    with pytest.raises(ValueError, match="timeout must be"):
        start_workers(None, 1, timeout=0)


def spans_of(worker, *ms_pairs):
    return [JobTiming(worker, int(a * 1e6), int(b * 1e6), int((b - a) * 1e6)) for a, b in ms_pairs]


def test_plot_worker_spans_draws_one_lane_per_worker_per_run():
    fig = plot_worker_spans({"threads": spans_of("a", (0, 5), (5, 10)) + spans_of("b", (1, 9)),
                             "processes": spans_of("p", (0, 5))}, title="t")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["threads: worker 1", "threads: worker 2", "processes: worker 1"]
    assert fig.axes[0].get_title(loc="left") == "t"
    with pytest.raises(TypeError, match="runs must be"):
        plot_worker_spans({})
    with pytest.raises(TypeError, match="list of JobTiming"):
        plot_worker_spans({"x": [(1, 2)]})


def test_plot_speedups_draws_bars_and_checks_keys():
    fig = plot_speedups({"a": 1.0, "b": 1.9}, {"a": 2, "b": 2}, title="s")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert math.isclose(ax.get_xlim()[1], 2 * 1.2)
    with pytest.raises(ValueError, match="same keys"):
        plot_speedups({"a": 1.0}, {"b": 1.0})
    with pytest.raises(ValueError, match=r"speedups\['a'\]"):
        plot_speedups({"a": -1.0}, {"a": 1.0})


def test_add_worker_lanes_extends_a_timeline_figure():
    import asyncio

    import asynclab

    async def main():
        with asynclab.record() as tl:
            await asyncio.sleep(0.01)
        return tl

    tl = asynclab.run(main())
    fig = tl.plot()
    before = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    add_worker_lanes(fig, spans_of("p1", (0, 3)) + spans_of("p2", (1, 4)), 0)
    after = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert after == before + ["process 1", "process 2"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "job running in a worker process" in texts
    assert add_worker_lanes(fig, [], 0) is fig
    with pytest.raises(TypeError, match="list of JobTiming"):
        add_worker_lanes(fig, [(1, 2)], 0)


def test_best_of_keeps_the_best_score_and_runs_again_only_below_good_enough():
    from asynclab.workloads import best_of

    scores = iter([0.5, 0.7, 0.95, 0.99])
    calls = []

    def trial():
        calls.append(1)
        score = next(scores)
        return (score, f"run {len(calls)}")

    assert best_of(trial, runs=1, max_runs=4, good_enough=0.9) == (0.95, "run 3")
    assert len(calls) == 3  # stopped once the best reached good_enough
    assert best_of(lambda: (1.0,), runs=2, max_runs=2) == (1.0,)
    with pytest.raises(TypeError, match="tuple"):
        best_of(lambda: 1.0)
    with pytest.raises(ValueError, match="max_runs"):
        best_of(trial, runs=3, max_runs=2)
