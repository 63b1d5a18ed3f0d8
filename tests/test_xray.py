"""record(xray=True): what the loop held at each step, against ground truths; the widget."""

import asyncio
import contextvars
import threading
import time

import asynclab
import numpy as np
import pytest
from asynclab import recorder
from asynclab.loopstate import CAP, PoolState, QueueEntry
from asynclab.records import TimelineData, XRayData

PY_TASK = asyncio.tasks._PyTask


async def hop(n):
    for _ in range(n):
        await asyncio.sleep(0)


def recorded(body, *, python_tasks=False, xray=True):
    """Run ``body(log)`` (a coroutine function) inside record(xray=...) on a fresh loop."""
    log: list = []

    async def main():
        if python_tasks:
            asyncio.get_running_loop().set_task_factory(
                lambda loop, coro, **kw: PY_TASK(coro, loop=loop, **kw))
        with asynclab.record(xray=xray) as tl:
            await body(log)
        return tl

    return asynclab.run(main(), timeout=30), log


def steps_of(tl, name):
    return [i for i, n in enumerate(tl.order(include_main=True)) if n == name]


both_task_kinds = pytest.mark.parametrize("python_tasks", [False, True], ids=["C", "Python"])


@both_task_kinds
def test_two_tasks_of_bare_yields_while_a_runs_b_is_the_only_task_ready(python_tasks):
    async def body(log):
        tasks = [asyncio.create_task(hop(3), name="A"), asyncio.create_task(hop(3), name="B")]
        log.extend(type(t) for t in tasks)
        await asyncio.gather(*tasks)

    tl, kinds = recorded(body, python_tasks=python_tasks)
    assert all((k is PY_TASK) == python_tasks for k in kinds)
    a, b = steps_of(tl, "A"), steps_of(tl, "B")
    assert len(a) == len(b) == 4
    assert [tl.ready_at(i) for i in a] == [["B"]] * 4  # every step of A
    assert [tl.ready_at(i) for i in b[:-1]] == [["A"]] * 3  # A finished before B's last
    assert tl.ready_at(b[-1]) == []
    assert all(tl.xray_at(i).running == n for i, n in enumerate(tl.order(include_main=True)))


@both_task_kinds
def test_three_tasks_at_a_second_step_the_queue_is_b_then_c(python_tasks):
    async def body(log):
        tasks = [asyncio.create_task(hop(2), name=n) for n in "ABC"]
        await asyncio.gather(*tasks)

    tl, _ = recorded(body, python_tasks=python_tasks)
    a = steps_of(tl, "A")
    assert tl.ready_at(a[0]) == ["B", "C"]
    assert tl.ready_at(a[1]) == ["B", "C"]
    assert tl.ready_at(steps_of(tl, "B")[0]) == ["C", "A"]  # A re-queued behind C


@both_task_kinds
def test_a_task_sleeping_10_ms_is_a_sleeper_that_wakes_10_ms_after_it_slept(python_tasks):
    async def nap():
        await asyncio.sleep(0.010)

    async def body(log):
        await asyncio.gather(asyncio.create_task(nap(), name="S"),
                             asyncio.create_task(hop(2), name="H"))

    tl, _ = recorded(body, python_tasks=python_tasks)
    s0, s1 = steps_of(tl, "S")
    slept_from, slept_to = tl.step_start[s0], tl.step_end[s0]
    for i in range(s0 + 1, s1):  # every step while S sleeps shows it with the same wake time
        mine = [s for s in tl.sleepers_at(i) if s.name == "S"]
        assert len(mine) == 1 and mine[0].task
        assert slept_from + 10 - 0.05 <= mine[0].wake_ms <= slept_to + 10 + 0.05, mine
    assert s1 > s0 + 1, "H's steps ran while S slept"
    assert tl.step_start[s1] >= mine[0].wake_ms - 0.05  # it woke no earlier than the timer
    assert not [s for s in tl.sleepers_at(s0) if s.name == "S"]  # not yet asleep
    sleepers = tl.sleepers_at(s0 + 1)
    assert [s.wake_ms for s in sleepers] == sorted(s.wake_ms for s in sleepers)


def test_a_task_woken_by_call_soon_from_a_plain_callback():
    async def body(log):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def wake():
            fut.set_result("go")

        async def waiter():
            log.append(await fut)

        async def poker():
            loop.call_soon(wake)
            await asyncio.sleep(0)
            await asyncio.sleep(0)

        await asyncio.gather(asyncio.create_task(waiter(), name="W"),
                             asyncio.create_task(poker(), name="P"),
                             asyncio.create_task(hop(2), name="X"))

    tl, log = recorded(body)
    assert log == ["go"]
    x0 = steps_of(tl, "X")[0]
    # P's call_soon put the plain callback in the queue, ahead of P's own next step.
    assert tl.xray_at(x0).queue == (QueueEntry("wake", False), QueueEntry("P", True))
    assert tl.ready_at(x0) == ["P"]
    # wake() ran between the steps (untimed); it set the future, so W is now queued.
    p1 = steps_of(tl, "P")[1]
    assert tl.ready_at(p1) == ["X", "W"]
    assert "W" not in tl.ready_at(x0)
    assert steps_of(tl, "W")[1] > p1


def test_the_pool_queue_four_jobs_on_one_worker_one_running_three_queued():
    async def body(log):
        loop = asyncio.get_running_loop()
        with asynclab.traced_pool(1, name="solo") as pool:
            jobs = [loop.run_in_executor(pool, time.sleep, 0.03) for _ in range(4)]
            while not all(j.done() for j in jobs):
                await asyncio.sleep(0.005)
            await asyncio.gather(*jobs)

    tl, _ = recorded(body)
    states = [tl.pool_at(i) for i in range(len(tl.step_start))]
    solo = [[p for p in s if p.pool == "solo"][0] for s in states]
    assert all(p.running <= 1 for p in solo)  # one worker: never two at once
    assert PoolState("solo", 1, 3) in solo  # the first job running, three waiting
    assert PoolState("solo", 1, 0) in solo  # the last one alone
    assert [p.running + p.queued for p in solo] == sorted(
        (p.running + p.queued for p in solo), reverse=True)  # the work only drains


def test_a_cancelled_task_is_queued_and_its_next_step_raises_cancelled_error():
    async def body(log):
        async def napper():
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                log.append("cancelled in step")
                raise

        t = asyncio.create_task(napper(), name="T")
        x = asyncio.create_task(hop(2), name="X")
        await asyncio.sleep(0)
        t.cancel()
        log.append("cancel called")
        await asyncio.gather(t, x, return_exceptions=True)

    tl, log = recorded(body)
    assert log == ["cancel called", "cancelled in step"]
    order = tl.order(include_main=True)
    t0, t1 = steps_of(tl, "T")
    x1 = steps_of(tl, "X")[1]
    cancel_step = max(i for i in steps_of(tl, "main") if i < t1)
    assert t0 < cancel_step < x1 < t1
    assert "T" not in tl.ready_at(cancel_step)  # asleep when main cancelled it
    assert tl.ready_at(x1)[0] == "T"  # then first in the queue
    assert [s for s in tl.sleepers_at(cancel_step) if s.name == "T"]
    assert order[t1] == "T" and tl.task("T").outcome == "cancelled"
    assert tl.task("T").steps == 2  # the step after the cancel was its last: it raised


def test_order_is_identical_with_and_without_recording_and_with_the_xray():
    async def worker(i, log):  # uneven lengths, and tasks that start tasks
        for _ in range(i % 7 + 1):
            log.append(i)
            await asyncio.sleep(0)
        if i % 5 == 0 and i < 1000:
            await asyncio.create_task(worker(i + 1000, log))
        log.append(i)

    async def body(log):
        await asyncio.gather(*(worker(i, log) for i in range(40)))

    plain: list = []
    asyncio.run(body(plain))
    tl_plain, logged_plain = recorded(body, xray=False)
    tl_xray, logged_xray = recorded(body, xray=True)
    assert logged_plain == plain and logged_xray == plain
    assert tl_xray.step_lane.tolist() == tl_plain.step_lane.tolist()  # the same steps, in order
    assert len(tl_xray.step_start) > 200
    assert tl_xray.has_xray and not tl_plain.has_xray


def test_plain_recordings_keep_the_cheap_patch_and_everything_is_restored():
    original = asyncio.events.Handle._run
    seen = []

    async def main():
        with asynclab.record():
            seen.append(asyncio.events.Handle._run)
            with asynclab.record(xray=True):
                seen.append(asyncio.events.Handle._run)
                await asyncio.sleep(0)
            seen.append(asyncio.events.Handle._run)
        with pytest.raises(RuntimeError), asynclab.record(xray=True):
            raise RuntimeError("boom")

    asynclab.run(main())
    assert seen == [recorder._recording_run, recorder._xray_run, recorder._recording_run]
    assert asyncio.events.Handle._run is original and not asynclab.is_patched()


def test_a_long_queue_is_capped_per_step_with_its_full_length_kept():
    n = CAP + 24

    async def body(log):
        await asyncio.gather(*(asyncio.create_task(hop(1), name=f"t{i}") for i in range(n)))

    tl, _ = recorded(body)
    first = steps_of(tl, "t0")[0]
    assert tl.xray_at(first).sleepers_len == 0
    x = tl.xray_at(first)
    assert len(x.queue) == CAP and x.queue_len == n - 1
    assert list(x.ready) == [f"t{i}" for i in range(1, CAP + 1)]
    assert tl.data.xray.ready_code.size <= CAP * len(tl.step_start)


def test_bad_arguments_are_refused_with_clear_errors():
    with pytest.raises(TypeError, match="xray must be True or False"):
        with asynclab.record(xray="yes"):
            pass
    assert not asynclab.is_patched()
    plain, _ = recorded(lambda log: hop(2), xray=False)
    with pytest.raises(ValueError, match=r"record\(xray=True\)"):
        plain.ready_at(0)
    tl, _ = recorded(lambda log: asyncio.gather(hop(2), hop(2)))
    n = len(tl.step_start)
    with pytest.raises(IndexError, match=f"from 0 to {n - 1}"):
        tl.xray_at(n)
    with pytest.raises(IndexError):
        tl.sleepers_at(-1)
    with pytest.raises(TypeError, match="step index"):
        tl.pool_at("0")
    with pytest.raises(TypeError, match="step index"):
        tl.ready_at(True)
    with pytest.raises(ValueError, match="xray holds"):
        d = tl.data
        TimelineData(d.wall_ms, d.task_names, d.created_ms, d.outcomes, d.step_start[:1],
                     d.step_end[:1], d.step_lane[:1], d.threads, d.job_submit, d.job_start,
                     d.job_end, d.job_thread, xray=d.xray)
    with pytest.raises(TypeError, match="xray must be an XRayData"):
        TimelineData(1.0, [], [], [], [], [], [], [], [], [], [], [], xray={})
    with pytest.raises(ValueError, match="offset"):
        XRayData(16, [], [0], [], [0, 0], [0], [], [], [])


def test_many_sleepers_are_capped_earliest_first():
    n = CAP + 10

    async def nap(i):
        await asyncio.sleep(0.05 + i * 0.001)

    async def body(log):
        await asyncio.gather(*(asyncio.create_task(nap(i), name=f"s{i}") for i in range(n)),
                             asyncio.create_task(hop(3), name="H"))

    tl, _ = recorded(body)
    x = tl.xray_at(steps_of(tl, "H")[1])  # every napper asleep by now
    # Beyond the cap the timers are not looked at: the runner's own time limit is counted.
    assert n <= x.sleepers_len <= n + 1 and len(x.sleepers) == CAP
    assert [s.name for s in x.sleepers] == [f"s{i}" for i in range(CAP)]


def test_x_ray_arrays_are_read_only():
    tl, _ = recorded(lambda log: hop(2))
    with pytest.raises(ValueError):
        tl.data.xray.ready_code[:1] = 5
    assert isinstance(tl.data.xray.sleep_ms, np.ndarray)


# -- the widget -----------------------------------------------------------------------------


def test_the_widget_steps_through_the_recording():
    async def body(log):
        await asyncio.gather(asyncio.create_task(hop(2), name="A"),
                             asyncio.create_task(hop(2), name="B"))

    tl, _ = recorded(body)
    view = asynclab.xray(tl)
    n = len(tl.step_start)
    assert view.slider.max == n - 1 and view.play.max == n - 1
    first_html, first_png = view.state.value, view.picture.outputs[0]["data"]["image/png"]
    assert "A" in first_html and "ready queue" in first_html
    a1 = steps_of(tl, "A")[1]
    view.slider.value = a1  # what the slider and the play button do
    assert view.last.step == a1 and view.last.ready == ("B",)
    assert view.state.value != first_html
    assert view.picture.outputs[0]["data"]["image/png"] != first_png  # the cursor moved
    assert len(view.picture.outputs) == 1
    assert view.show(0).step == 0 and view.slider.value == 0


def test_the_widget_refuses_a_timeline_without_x_ray():
    plain, _ = recorded(lambda log: hop(1), xray=False)
    with pytest.raises(ValueError, match=r"record\(xray=True\)"):
        asynclab.xray(plain)
    with pytest.raises(TypeError, match="Timeline"):
        asynclab.xray("not a timeline")
    with pytest.raises(ValueError, match="no steps"):
        asynclab.xray(recorded(lambda log: hop(1))[0])  # the block's own last step is not on it
    tl, _ = recorded(lambda log: asyncio.gather(hop(1)))
    with pytest.raises(ValueError, match="interval_ms"):
        asynclab.xray(tl, interval_ms=1)


def test_no_thread_is_left_behind_by_an_x_ray_recording():
    before = set(threading.enumerate())
    recorded(lambda log: asyncio.to_thread(time.sleep, 0.001))
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_only_the_experiments_handles_show_and_plain_timers_by_their_name():
    async def main():
        loop = asyncio.get_running_loop()
        outside = loop.call_later(5, print, "never")  # made before the block: not shown
        try:
            with asynclab.record(xray=True) as tl:
                inside = loop.call_later(5, print, "never either")
                a = asyncio.create_task(hop(1), name="A")
                loop.call_soon(len, "", context=contextvars.Context())  # not the experiment's
                await asyncio.gather(a)
                inside.cancel()
        finally:
            outside.cancel()
        return tl

    tl = asynclab.run(main())
    x = tl.xray_at(0)
    assert x.running == "A" and x.queue == () and x.queue_len == 0  # len() left out
    assert [(s.name, s.task) for s in x.sleepers] == [("print", False)]
    assert x.sleepers_len == 1  # the runner's time limit and the outside timer not counted
    assert 4990 < x.sleepers[0].wake_ms < 5100
