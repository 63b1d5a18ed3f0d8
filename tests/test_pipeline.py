import asyncio

import asynclab
import matplotlib
import pytest
from asynclab.pipeline import QueueDepths, plot_queue_depths, plot_throughput, sample_queues

matplotlib.use("Agg")


def test_a_full_queue_is_sampled_at_its_maxsize_and_drains_to_zero():
    async def main():
        q = asyncio.Queue(maxsize=3)
        async with sample_queues({"inbox": q}, interval=0.001) as depths:
            for i in range(3):
                await q.put(i)
            await asyncio.sleep(0.02)  # full for a while
            while not q.empty():
                q.get_nowait()
            await asyncio.sleep(0.01)
        return depths

    depths = asynclab.run(main())
    d = depths.depths("inbox")
    assert depths.peak("inbox") == 3 == depths.maxsize["inbox"]
    assert d[-1] == 0 and len(d) == len(depths.times_ms) >= 5
    assert 0.2 < depths.full_fraction("inbox") < 1.0
    assert (depths.times_ms[1:] >= depths.times_ms[:-1]).all()
    assert "inbox 3/3" in repr(depths)


def test_the_sampler_task_is_gone_after_the_block():
    async def main():
        async with sample_queues({"q": asyncio.Queue()}):
            await asyncio.sleep(0.005)
        return [t.get_name() for t in asyncio.all_tasks()]

    assert "queue-sampler" not in asynclab.run(main())


@pytest.mark.parametrize("queues, error", [({}, TypeError), ([1], TypeError),
                                           ({"q": [1, 2]}, TypeError), ({1: None}, TypeError)])
def test_sample_queues_rejects_bad_queues(queues, error):
    async def main():
        async with sample_queues(queues):
            pass

    with pytest.raises(error, match="queues"):
        asynclab.run(main())


@pytest.mark.parametrize("interval", [0, -1, 2, "x"])
def test_sample_queues_rejects_bad_intervals(interval):
    async def main():
        async with sample_queues({"q": asyncio.Queue()}, interval=interval):
            pass

    with pytest.raises((TypeError, ValueError), match="interval"):
        asynclab.run(main())


def test_unknown_queue_names_are_named_in_the_error():
    depths = QueueDepths({"a": asyncio.Queue()}, 0.01)
    with pytest.raises(KeyError, match="no queue named 'b'"):
        depths.depths("b")
    assert depths.peak("a") == 0 and depths.full_fraction("a") == 0.0


def test_plots_draw_one_row_per_queue_and_one_line_per_curve():
    async def main():
        queues = {"parse": asyncio.Queue(2), "summarise": asyncio.Queue(4)}
        async with sample_queues(queues, interval=0.001) as depths:
            await queues["parse"].put(1)
            await asyncio.sleep(0.005)
        return depths

    depths = asynclab.run(main())
    fig = plot_queue_depths(depths, title="depths")
    assert len(fig.axes) == 2 and fig.axes[0].get_title(loc="left") == "depths"
    assert depths.plot().axes[1].get_ylabel().startswith("summarise")
    fig = plot_throughput([1, 2, 3], {"fetch": [1, 1, 1], "parse": [1, 2, 3]}, xlabel="workers")
    assert len(fig.axes[0].get_lines()) == 2


def test_plot_arguments_are_checked():
    with pytest.raises(TypeError, match="QueueDepths"):
        plot_queue_depths([1, 2])
    with pytest.raises(ValueError, match="curve 'a' has 2 values"):
        plot_throughput([1, 2, 3], {"a": [1, 2]}, xlabel="x")
    with pytest.raises(ValueError, match="x must be"):
        plot_throughput([], {"a": []}, xlabel="x")
    with pytest.raises(TypeError, match="curves"):
        plot_throughput([1], {}, xlabel="x")


def test_first_full_and_stalls_drawn_on_a_row_of_their_own():
    import time

    async def main():
        q = asyncio.Queue(maxsize=2)
        stalls = []
        async with sample_queues({"inbox": q, "never": asyncio.Queue(5)}, interval=0.001) as depths:
            await asyncio.sleep(0.01)
            for i in range(3):  # the third put waits until the consumer below takes one
                if i == 2:
                    asyncio.get_running_loop().call_later(0.02, q.get_nowait)
                t0 = time.perf_counter()
                await q.put(i)
                stalls.append((t0, time.perf_counter()))
        return depths, stalls

    depths, stalls = asynclab.run(main())
    first = depths.first_full_ms("inbox")
    assert first is not None and 5 <= first <= 30
    assert depths.first_full_ms("never") is None
    a, b = depths.to_ms(stalls[-1][0]), depths.to_ms(stalls[-1][1])
    assert b - a >= 15 and a >= first - 2  # the blocked put, on the block's clock
    fig = depths.plot(title="t", stalls={"producer": stalls})
    assert len(fig.axes) == 3 and fig.axes[0].get_ylabel() == "producer"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("put() on a full queue" in t for t in labels) and "maxsize" in labels
    with pytest.raises(TypeError):
        depths.plot(stalls=[(0, 1)])
    with pytest.raises(TypeError):
        depths.plot(stalls={"producer": [1, 2]})


def test_plot_runs_draws_the_best_as_a_bar_and_every_run_as_a_dot():
    from asynclab.pipeline import plot_runs

    fig = plot_runs({"as is": [40, 45, 44], "+1 summarise": [80, 85]}, title="t")
    ax = fig.axes[0]
    assert [round(p.get_height()) for p in ax.patches] == [45, 85]
    assert sum(len(line.get_xdata()) for line in ax.lines) == 5
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["best run", "each run"]
    once = plot_runs({"as is": [40], "+1 summarise": [80]}, title="t")  # one run each: bars only
    assert [round(p.get_height()) for p in once.axes[0].patches] == [40, 80]
    assert not once.axes[0].lines and not once.legends
    for bad in ({}, [1, 2]):
        with pytest.raises(TypeError):
            plot_runs(bad)
    with pytest.raises(ValueError):
        plot_runs({"x": []})
