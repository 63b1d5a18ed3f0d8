"""Drawing time of a timeline: ``tl.plot()`` then a PNG, against ``broken_barh``.

The timelines are synthesised with the shape of a real recording of N tasks taking turns
at bare yields (round robin, steps of 1-3 us with short gaps between them), so that 1M
spans do not need 1M recorded steps. A span is one task step; each step is drawn twice by
``plot`` (on its task's lane and on the event-loop lane), and ``broken_barh`` gets the
same spans on the same lanes.
"""

from __future__ import annotations

import io
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from asynclab.records import TimelineData  # noqa: E402
from asynclab.timeline import Timeline  # noqa: E402


def synthetic_timeline(spans: int, seed: int = 0) -> Timeline:
    """A Timeline of ``spans`` task steps over ``spans // 10`` tasks (at most 10,000)."""
    rng = np.random.default_rng(seed)
    n_tasks = max(1, min(10_000, spans // 10))
    dur = rng.uniform(1e-3, 3e-3, spans)  # ms
    gap = rng.exponential(0.5e-3, spans)
    start = np.cumsum(dur + gap) - dur
    end = start + dur
    lane = (np.arange(spans) % n_tasks).astype(np.int32)
    empty = np.zeros(0)
    return Timeline.of(TimelineData(
        wall_ms=float(end[-1]) + 0.01, task_names=[f"Task-{i + 1}" for i in range(n_tasks)],
        created_ms=np.zeros(n_tasks), outcomes=["done"] * n_tasks,
        step_start=start, step_end=end, step_lane=lane, threads=[],
        job_submit=empty, job_start=empty, job_end=empty, job_thread=np.zeros(0, dtype=np.int64),
    ))


def _png(fig) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.tell()


def time_plot(tl: Timeline) -> float:
    t0 = time.perf_counter()
    _png(tl.plot())
    return time.perf_counter() - t0


def time_broken_barh(tl: Timeline, max_task_lanes: int = 30) -> float:
    """The same spans with one ``broken_barh`` call per lane (the best plain matplotlib
    method short of collections), tasks grouped into lanes as ``plot`` does."""
    t0 = time.perf_counter()
    n_tasks = len(tl.task_names)
    group = max(1, -(-n_tasks // max_task_lanes))
    rows = 1 + tl.step_lane // group
    fig, ax = plt.subplots(figsize=(9, min(12.0, 1.3 + 0.28 * (rows.max() + 1))))
    width = tl.step_end - tl.step_start
    ax.broken_barh(np.column_stack([tl.step_start, width]), (-0.35, 0.7))  # event loop
    order = np.argsort(rows, kind="stable")
    bounds = np.flatnonzero(np.diff(rows[order])) + 1
    for idx in np.split(order, bounds):
        r = rows[idx[0]]
        ax.broken_barh(np.column_stack([tl.step_start[idx], width[idx]]), (r - 0.35, 0.7))
    ax.set_xlim(0, tl.wall_ms)
    ax.set_ylim(rows.max() + 0.5, -0.5)
    _png(fig)
    return time.perf_counter() - t0


def drawing_times(sizes: list[int], reps: int, barh_max: int) -> list[dict]:
    out = []
    time_plot(synthetic_timeline(100))  # warm up fonts and caches
    for n in sizes:
        tl = synthetic_timeline(n)
        r = reps if n <= 100_000 else 1
        plot_s = min(time_plot(tl) for _ in range(r))
        barh_s = min(time_broken_barh(tl) for _ in range(r)) if n <= barh_max else None
        out.append({"spans": n, "plot_s": plot_s, "broken_barh_s": barh_s})
    return out
