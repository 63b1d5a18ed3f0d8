import asyncio
import json
import time

import asynclab
import numpy as np
import pytest
from matplotlib.figure import Figure


async def nap(delay):
    await asyncio.sleep(delay)


def recorded(coro_factory):
    async def main():
        with asynclab.record() as tl:
            await coro_factory()
        return tl

    return asynclab.run(main())


@pytest.fixture(scope="module")
def mixed():
    async def work():
        await asyncio.gather(nap(0.02), nap(0.03), asyncio.to_thread(time.sleep, 0.02))

    return recorded(work)


def test_summary_measures_wall_busy_and_efficiency(mixed):
    s = mixed.summary(ideal_s=0.03)
    assert 30 <= s.wall_ms < 300
    assert 0 <= s.loop_utilisation <= 1
    assert s.efficiency == pytest.approx(30 / s.wall_ms)
    assert s.jobs == 1 and s.threads == 1
    assert s.busy_ms[mixed.threads[0]] >= 20 * 0.95
    assert "efficiency" in str(s)


def test_plot_returns_a_figure_with_a_lane_per_task_and_thread(mixed):
    fig = mixed.plot(title="mixed")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "event loop"
    assert labels[1:1 + len(mixed.task_names)] == mixed.task_names
    assert labels[-1] == f"thread {mixed.threads[0]}"
    assert ax.get_title(loc="left") == "mixed"


def test_plot_keeps_only_the_named_tasks_lanes():
    async def work():
        await asyncio.gather(asyncio.create_task(nap(0.01), name="agent"),
                             asyncio.create_task(nap(0.01), name="internal"))

    tl = recorded(work)
    full = [t.get_text() for t in tl.plot().axes[0].get_yticklabels()]
    labels = [t.get_text() for t in tl.plot(tasks=["main", "agent"]).axes[0].get_yticklabels()]
    assert "internal" in full and labels == [x for x in full if x != "internal"]
    assert [t.get_text() for t in tl.plot(tasks=("agent",)).axes[0].get_yticklabels()] == [
        "event loop", "agent"]
    assert [t.get_text() for t in tl.plot(tasks=[], show_loop=False).axes[0].get_yticklabels()] == []
    with pytest.raises(ValueError, match="no task named 'nope'"):
        tl.plot(tasks=["nope"])
    with pytest.raises(TypeError, match="tasks"):
        tl.plot(tasks="agent")


def test_plot_groups_tasks_beyond_the_lane_limit():
    tl = recorded(lambda: asyncio.gather(*(nap(0) for _ in range(100))))
    fig = tl.plot(max_task_lanes=10)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 1 + 10
    assert labels[1] == "tasks 1-11"


def test_plot_draws_one_artist_per_colour_for_many_spans():
    tl = recorded(lambda: asyncio.gather(*(nap(0) for _ in range(2000))))
    assert len(tl.step_start) >= 4000
    fig = tl.plot()
    patches = [a for a in fig.axes[0].get_children() if type(a).__name__ == "PathPatch"]
    assert 1 <= len(patches) <= 5


@pytest.mark.parametrize(
    "kwargs, message",
    [({"blocked_ms": 0}, "blocked_ms"), ({"max_task_lanes": 0}, "max_task_lanes"),
     ({"title": 3}, "title"), ({"width": 100}, "width")],
)
def test_plot_rejects_bad_options(mixed, kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        mixed.plot(**kwargs)


def test_to_perfetto_writes_one_named_track_per_task_and_thread(mixed, tmp_path):
    path = mixed.to_perfetto(tmp_path / "trace.json")
    data = json.loads(open(path).read())
    events = data["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert sorted(v for (pid, _), v in names.items() if pid == 1) == sorted(mixed.task_names)
    assert [v for (pid, _), v in names.items() if pid == 2] == mixed.threads
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(mixed.step_start) + len(mixed.jobs)
    for e in complete:
        assert e["dur"] >= 0 and e["ts"] >= 0
        assert (e["pid"], e["tid"]) in names
    job = next(e for e in complete if e["cat"] == "job")
    assert job["dur"] == pytest.approx(20_000, rel=0.5)  # microseconds


def test_steps_and_task_lookups_name_what_exists(mixed):
    with pytest.raises(KeyError, match="no task named 'nope'"):
        mixed.steps("nope")
    with pytest.raises(KeyError, match="no task named"):
        mixed.task("nope")
    first = mixed.task_names[1]
    assert mixed.steps(first).shape[1] == 2
    assert isinstance(mixed.step_start, np.ndarray)


def test_summary_rejects_a_bad_ideal(mixed):
    with pytest.raises(ValueError, match="ideal_s"):
        mixed.summary(ideal_s=-1)


def test_merge_spans_draws_the_same_union_per_row():
    from asynclab.plotting import merge_spans

    rng = np.random.default_rng(1)
    x0 = rng.uniform(0, 100, 5000)
    x1 = x0 + rng.exponential(0.2, 5000)
    rows = rng.integers(0, 7, 5000).astype(float)
    m0, m1, mrows = merge_spans(x0, x1, rows, gap=0.0)
    assert len(m0) < len(x0)
    grid = np.linspace(0, 101, 20_000)
    for r in range(7):
        covered = np.zeros_like(grid, dtype=bool)
        for a, b in zip(x0[rows == r], x1[rows == r], strict=True):
            covered |= (grid >= a) & (grid <= b)
        merged = np.zeros_like(grid, dtype=bool)
        for a, b in zip(m0[mrows == r], m1[mrows == r], strict=True):
            merged |= (grid >= a) & (grid <= b)
        assert (covered == merged).all()
        # merged spans on a row are disjoint and sorted
        a, b = m0[mrows == r], m1[mrows == r]
        assert (a[1:] > b[:-1]).all()
