import matplotlib
import pytest
from asynclab.cluster import add_stream_lanes, plot_costs, stream_spans, timed_job
from asynclab.records import Span
from asynclab.workloads import JobTiming

matplotlib.use("Agg")

RECORDS = [
    {"worker": "tcp://127.0.0.1:1", "key": "a",
     "startstops": ({"action": "transfer", "start": 99.0, "stop": 100.0},
                    {"action": "compute", "start": 100.0, "stop": 100.1})},
    {"worker": "tcp://127.0.0.1:2", "key": "b",
     "startstops": ({"action": "compute", "start": 100.05, "stop": 100.2},)},
]


def test_stream_spans_convert_wall_clock_to_ms_since_wall0():
    spans = stream_spans(RECORDS, wall0=99.9)
    assert [s.key for s in spans] == ["a", "b"]
    assert spans[0].start_ms == pytest.approx(100.0) and spans[0].end_ms == pytest.approx(200.0)
    assert stream_spans(RECORDS, wall0=99.0, action="transfer")[0].end_ms == pytest.approx(1000.0)


def test_stream_spans_validate():
    with pytest.raises(TypeError, match="startstops"):
        stream_spans([{"key": "a"}], wall0=1.0)
    with pytest.raises(ValueError, match="wall0"):
        stream_spans(RECORDS, wall0=-1.0)


def test_add_stream_lanes_adds_one_lane_per_worker():
    from asynclab.plotting import new_figure

    fig, ax = new_figure()
    ax.set_yticks([0], ["event loop"])
    add_stream_lanes(fig, stream_spans(RECORDS, wall0=99.9))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["event loop", "Dask worker 1",
                                                                    "Dask worker 2"]
    with pytest.raises(TypeError):
        add_stream_lanes(fig, [1])


def test_plot_costs_and_validation():
    fig = plot_costs({"tiny": {"threads": 0.01, "cluster": 2.0}, "big": {"threads": 0.1}})
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(ValueError):
        plot_costs({"tiny": {"threads": 0.0}})
    with pytest.raises(TypeError):
        plot_costs({})


def test_timed_job_returns_a_span():
    span = timed_job(2, b"xx")
    assert isinstance(span, JobTiming) and span.cpu_ns >= 1_500_000 and span.end_ns > span.start_ns


def test_a_local_cluster_task_stream_becomes_spans():
    distributed = pytest.importorskip("distributed")
    import time

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None, silence_logs=50,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            distributed.Client(cluster) as client, distributed.get_task_stream(client) as ts:
        wall0 = time.time()
        client.submit(timed_job, 5, pure=False).result()
    spans = stream_spans(ts.data, wall0=wall0)
    assert len(spans) == 1 and isinstance(spans[0], Span)
    assert 0 <= spans[0].start_ms < spans[0].end_ms < 10_000


def test_per_task_ms_takes_the_fastest_round_and_validates():
    from concurrent.futures import ThreadPoolExecutor

    from asynclab.cluster import per_task_ms

    with ThreadPoolExecutor(2) as pool:
        ms = per_task_ms(pool, timed_job, [2] * 4, rounds=2)
        assert 2 * 2 / 2 * 0.8 <= ms * 4 / 2 < 1000  # 4 jobs of >= 2 ms on 2 threads
        with pytest.raises(ValueError, match="at least one task"):
            per_task_ms(pool, timed_job, [])
        with pytest.raises(ValueError, match="rounds"):
            per_task_ms(pool, timed_job, [1], rounds=0)


def test_best_cpu_rounds_reports_ms_cores_used_and_others():
    from concurrent.futures import ThreadPoolExecutor

    from asynclab.cluster import CpuRound, best_cpu_rounds, warm_up

    with ThreadPoolExecutor(2) as a, ThreadPoolExecutor(2) as b:
        pools = {"threads": a, "more threads": b}
        warm_up(pools, 2)
        best = best_cpu_rounds(pools, [5] * 4, parallel=2, rounds=2)
        assert set(best) == set(pools) and all(isinstance(r, CpuRound) for r in best.values())
        assert all(r.ms_per_task >= 5 * 0.8 and 0 < r.used and r.others >= 0
                   for r in best.values())
        with pytest.raises(ValueError, match="threads"):
            best_cpu_rounds({"b": b}, [1], parallel=2)


def test_marked_burn_writes_what_the_worker_did(tmp_path):
    import asyncio

    from asynclab.cluster import marked_burn, wait_for_mark

    path = str(tmp_path / "marks")
    cpu_ms = marked_burn(3, path)
    assert cpu_ms >= 3

    async def read():
        return await wait_for_mark(path, "started"), await wait_for_mark(path, "finished")

    [started], [finished, cpu] = asyncio.run(read())
    assert started <= finished and cpu == cpu_ms

    async def never():
        await wait_for_mark(str(tmp_path / "none"), "started", timeout=0.05)

    with pytest.raises(TimeoutError):
        asyncio.run(never())
    with pytest.raises(ValueError, match="mark"):
        asyncio.run(wait_for_mark(path, "begun"))


def test_local_executor_starts_and_stops_a_cluster():
    pytest.importorskip("distributed")
    from asynclab.cluster import QUIET, dask_ready, local_executor

    assert dask_ready() and QUIET["host"] == "127.0.0.1"
    with local_executor(1) as pool:
        assert pool.submit(timed_job, 1).result(timeout=30).cpu_ns >= 500_000


def test_other_programs_measures_the_rest_of_the_machine():
    import time as _time

    from asynclab.cluster import other_programs
    from asynclab.workloads import usable_cores

    with other_programs() as load:
        _time.sleep(0.05)
    assert 0 <= load.cores <= 1024 and load.free == pytest.approx(usable_cores() - load.cores)
    assert "cores=" in repr(load)
