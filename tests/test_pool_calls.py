import asyncio
import time

import asynclab
import matplotlib
import pytest
from asynclab.pool_calls import plot_pool_calls, queued_calls

matplotlib.use("Agg")


def recorded(calls, threads):
    async def main():
        loop = asyncio.get_running_loop()
        with asynclab.traced_pool(threads, name="pool") as pool, asynclab.record() as tl:
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.01)
                                   for _ in range(calls)))
        return tl

    return asynclab.run(main(), timeout=30)


def test_queued_calls_counts_the_calls_that_waited_for_a_busy_thread():
    tl = recorded(7, 2)
    assert len(tl.jobs) == 7 and len(tl.threads) == 2
    assert queued_calls(tl) == 7 - 2   # all but each thread's first call
    assert queued_calls(recorded(2, 2)) == 0


def test_plot_pool_calls_draws_one_lane_per_call_in_submission_order():
    tl = recorded(5, 2)
    fig = plot_pool_calls(tl, title="five calls")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert [label.split(" · ")[0] for label in labels] == [f"call {k}" for k in range(1, 6)]
    assert {label.split(" · ")[1] for label in labels} == set(tl.threads)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["call queued for a free pool thread", "call running in a pool thread"]


def test_pool_calls_validate():
    with pytest.raises(TypeError, match="Timeline"):
        queued_calls([1, 2])

    async def nothing():
        with asynclab.record() as tl:
            await asyncio.sleep(0)
        return tl

    with pytest.raises(ValueError, match="no pool jobs"):
        plot_pool_calls(asynclab.run(nothing(), timeout=10), title="none")
