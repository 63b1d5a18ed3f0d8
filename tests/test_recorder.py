import asyncio
import random
import threading
import time

import asynclab
import pytest
from asynclab.recorder import _ACTIVE


async def hop(n):
    for _ in range(n):
        await asyncio.sleep(0)


def test_two_tasks_of_three_bare_yields_alternate_strictly_four_steps_each():
    async def main():
        with asynclab.record() as tl:
            await asyncio.gather(hop(3), hop(3))
        return tl

    tl = asynclab.run(main())
    order = tl.order()
    assert len(order) == 8
    assert order == [order[0], order[1]] * 4 and order[0] != order[1]
    assert [t.steps for t in tl.tasks if t.name != "main"] == [4, 4]
    assert all(t.outcome == "done" for t in tl.tasks if t.name != "main")


def test_overlapping_sleeps_overlap():
    async def nap():
        await asyncio.sleep(0.05)

    async def main():
        with asynclab.record() as tl:
            await asyncio.gather(nap(), nap(), nap())
        return tl

    tl = asynclab.run(main())
    naps = [t for t in tl.tasks if t.name != "main"]
    assert len(naps) == 3
    latest_start = max(t.created_ms for t in naps)
    earliest_end = min(t.done_ms for t in naps)
    assert latest_start < earliest_end  # all three were alive at once
    # Three 50 ms sleeps take about one sleep, far from the three of a sequence.
    assert tl.wall_ms < 0.6 * 3 * 50


def test_time_sleep_in_a_coroutine_is_one_long_step_that_delays_everyone():
    async def blocker():
        time.sleep(0.06)

    async def main():
        with asynclab.record() as tl:
            await asyncio.gather(hop(2), blocker(), hop(2))
        return tl

    tl = asynclab.run(main())
    names = [t.name for t in tl.tasks if t.name != "main"]
    block = tl.steps(names[1])
    assert len(block) == 1
    start, end = block[0]
    assert end - start >= 60 * 0.95
    assert tl.summary().longest_step_ms == pytest.approx(end - start)
    for other in (names[0], names[2]):
        steps = tl.steps(other)
        # Nothing ran while the blocker held the loop, and each hopper had steps pushed past it.
        assert all(e <= start or s >= end for s, e in steps)
        assert (steps[:, 0] >= end).sum() >= 2


def test_a_traced_pool_of_four_workers_running_twenty_jobs_shows_four_lanes():
    async def main():
        loop = asyncio.get_running_loop()
        with asynclab.traced_pool(4) as pool, asynclab.record() as tl:
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.01) for _ in range(20)))
        return tl

    tl = asynclab.run(main())
    assert len(tl.threads) == 4
    assert len(tl.jobs) == 20
    assert all(j.submitted_ms <= j.started_ms <= j.finished_ms for j in tl.jobs)
    # Each worker ran its jobs one after another; together they ran all 20.
    per_thread = []
    for name in tl.threads:
        runs = sorted((j.started_ms, j.finished_ms) for j in tl.jobs if j.thread == name)
        assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))
        per_thread.append(len(runs))
    assert sum(per_thread) == 20 and min(per_thread) >= 1


def test_to_thread_shows_on_the_default_executor_lanes():
    async def main():
        with asynclab.record() as tl:
            await asyncio.gather(*(asyncio.to_thread(time.sleep, 0.02) for _ in range(3)))
        return tl

    tl = asynclab.run(main())
    assert len(tl.jobs) == 3
    assert all(name.startswith("asyncio_") for name in tl.threads)


def _asyncio_state(loop):
    handle = asyncio.events.Handle
    return {
        "Handle": dict(vars(handle)),
        "TimerHandle": dict(vars(asyncio.events.TimerHandle)),
        "factory": loop.get_task_factory(),
        "executor": loop._default_executor,
        "active": _ACTIVE.get(),
    }


@pytest.mark.parametrize("ending", ["normal", "exception", "keyboard_interrupt", "cancelled"])
def test_the_recorder_leaves_asyncio_exactly_as_it_found_it(ending):
    async def main():
        loop = asyncio.get_running_loop()
        before = _asyncio_state(loop)
        errors = {
            "exception": ValueError("inside the block"),
            "keyboard_interrupt": KeyboardInterrupt(),
            "cancelled": asyncio.CancelledError(),
        }
        try:
            with asynclab.record():
                assert asynclab.is_patched()
                assert loop.get_task_factory() is not None
                await asyncio.gather(hop(2), asyncio.to_thread(time.sleep, 0.001))
                if ending in errors:
                    raise errors[ending]
        except (ValueError, KeyboardInterrupt, asyncio.CancelledError):
            pass
        assert _asyncio_state(loop) == before

    asynclab.run(main())
    assert not asynclab.is_patched()


def _interleaving_workload(log, seed):
    # Bare yields only: their order is fixed by the FIFO ready queue, not by timing, so
    # any difference between the two runs would be the recorder's doing. (With timers the
    # order depends on how long steps take, recorded or not.)
    rng = random.Random(seed)
    plans = [[rng.randint(0, 3) for _ in range(rng.randint(3, 12))] for _ in range(8)]

    async def worker(i, plan):
        for yields in plan:
            log.append(i)
            for _ in range(yields):
                await asyncio.sleep(0)
        log.append(i)

    return [worker(i, plan) for i, plan in enumerate(plans)]


@pytest.mark.parametrize("seed", range(5))
def test_recording_does_not_change_the_order_in_which_tasks_run(seed):
    plain, recorded = [], []

    async def bare():
        await asyncio.gather(*_interleaving_workload(plain, seed))

    async def traced():
        with asynclab.record() as tl:
            await asyncio.gather(*_interleaving_workload(recorded, seed))
        return tl

    asynclab.run(bare())
    tl = asynclab.run(traced())
    assert recorded == plain
    assert len(tl.order()) >= len(set(plain))


def test_only_the_experiments_own_tasks_are_recorded():
    async def main():
        bystander = asyncio.create_task(hop(50), name="bystander")  # like the kernel's own
        await asyncio.sleep(0)
        with asynclab.record() as tl:
            await asyncio.gather(hop(5), hop(5))
        await bystander
        return tl

    tl = asynclab.run(main())
    assert "bystander" not in tl.task_names
    assert len(tl.task_names) == 3  # main and the two hoppers


def test_recording_around_run_adopts_the_fresh_loop():
    async def main():
        await asyncio.gather(hop(2), asyncio.to_thread(time.sleep, 0.01))

    with asynclab.record() as tl:
        asynclab.run(main())
    assert tl.task_names[0] == "main"
    assert len(tl.task_names) == 3
    assert len(tl.jobs) == 1


def test_a_task_that_fails_or_is_cancelled_has_that_outcome():
    async def fails():
        await asyncio.sleep(0)
        raise RuntimeError("x")

    async def main():
        with asynclab.record() as tl:
            doomed = asyncio.create_task(asyncio.sleep(10), name="doomed")
            await asyncio.sleep(0)
            doomed.cancel()
            await asyncio.gather(fails(), doomed, return_exceptions=True)
        return tl

    tl = asynclab.run(main())
    outcomes = {t.name: t.outcome for t in tl.tasks}
    assert outcomes["doomed"] == "cancelled"
    assert "failed" in outcomes.values()


def test_the_timeline_is_not_readable_while_recording():
    async def main():
        with asynclab.record() as tl:
            with pytest.raises(RuntimeError, match="still being recorded"):
                tl.summary()

    asynclab.run(main())


def test_a_traced_pool_outside_a_recording_is_a_plain_pool():
    with asynclab.traced_pool(2) as pool:
        assert pool.submit(pow, 2, 10).result() == 1024


def test_recording_in_two_threads_at_once_keeps_them_apart():
    results = {}

    def worker(key, n):
        async def main():
            with asynclab.record() as tl:
                await asyncio.gather(*(hop(3) for _ in range(n)))
            return tl

        results[key] = asynclab.run(main())

    threads = [threading.Thread(target=worker, args=(k, n)) for k, n in (("a", 2), ("b", 5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results["a"].task_names) == 3
    assert len(results["b"].task_names) == 6


def test_recording_in_a_cell_around_run_follows_it_onto_its_loop():
    async def experiment():
        await asyncio.gather(hop(2), asyncio.to_thread(time.sleep, 0.01))

    async def cell():  # a notebook cell: the kernel's loop is running
        with asynclab.record() as tl:
            asynclab.run(experiment())
        return tl

    tl = asyncio.run(cell())
    assert tl.task_names[0] == "main"
    assert len(tl.task_names) == 3  # the run's main task took the cell's lane
    assert len(tl.steps("main")) >= 1
    assert len(tl.jobs) == 1


def test_recording_keeps_the_default_task_names():
    async def main():
        with asynclab.record() as tl:
            task = asyncio.create_task(hop(1))
            named = asyncio.create_task(hop(1), name="named")
            await asyncio.gather(task, named)
        return task.get_name(), tl

    name, tl = asynclab.run(main())
    assert name.startswith("Task-")
    assert tl.task_names[1:] == [name, "named"]


def test_jobs_of_two_pools_keep_their_threads_names_even_after_the_pools_shut_down():
    async def main():
        loop = asyncio.get_running_loop()
        with asynclab.record() as tl:
            with asynclab.traced_pool(2, name="first") as a:
                await asyncio.gather(*(loop.run_in_executor(a, time.sleep, 0.002) for _ in range(4)))
            with asynclab.traced_pool(1, name="second") as b:  # may reuse a dead thread's ident
                await asyncio.gather(*(loop.run_in_executor(b, time.sleep, 0.001) for _ in range(3)))
            await asyncio.to_thread(time.sleep, 0.001)
        return tl

    tl = asynclab.run(main())
    jobs = tl.jobs
    assert len(jobs) == 8
    assert sorted({j.thread for j in jobs[:4]}) in (["first_0"], ["first_0", "first_1"])
    assert {j.thread for j in jobs[4:7]} == {"second_0"}
    assert jobs[7].thread.startswith("asyncio_")
