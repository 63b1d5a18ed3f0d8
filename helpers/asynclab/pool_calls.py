"""One lane per pool call: how long each call queued for a free thread, then ran.

``Timeline.plot`` draws a pool by its threads: each thread's lane shows job after job,
and the calls still waiting for a thread overlap on it. When the lesson is the waiting
itself (40 calls on a pool of 6: 34 of them queue), ``plot_pool_calls`` draws one lane
per call instead, in the order they were submitted, each named with the thread that
ran it: the queued part (from submit to start) and the running part side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plotting import add_legend, draw_spans, key_handle, lane_figure, styled
from .timeline import JobInfo, Timeline

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_pool_calls", "queued_calls"]

LANE_IN = 0.18  # height of one call's lane (inches): 40 calls fit on a screen


def _jobs(tl: Timeline) -> list[JobInfo]:
    if not isinstance(tl, Timeline):
        raise TypeError(f"tl must be an asynclab Timeline (from record()), got {type(tl).__name__}")
    return sorted(tl.jobs, key=lambda j: (j.submitted_ms, j.started_ms))


def queued_calls(tl: Timeline) -> int:
    """How many recorded pool calls had to wait for a thread to finish another call: each
    call submitted before the previous call on the thread that ran it had finished."""
    last_end: dict[str, float] = {}
    waited = 0
    for job in sorted(_jobs(tl), key=lambda j: j.started_ms):
        if job.thread in last_end and job.submitted_ms < last_end[job.thread]:
            waited += 1
        last_end[job.thread] = job.finished_ms
    return waited


@styled
def plot_pool_calls(tl: Timeline, *, title: str, width: float = 9.0) -> Figure:
    """One lane per pool job of ``tl``, top to bottom in the order they were submitted,
    labelled ``call k · thread``: queued (thin, submit to start), then running."""
    jobs = _jobs(tl)
    if not jobs:
        raise ValueError("this timeline has no pool jobs (to_thread / run_in_executor calls)")
    labels = [f"call {k} · {j.thread}" for k, j in enumerate(jobs, 1)]
    fig, ax = lane_figure(labels, max(j.finished_ms for j in jobs), width=width, title=title)
    fig.set_size_inches(width, 1.3 + LANE_IN * len(jobs))
    ax.tick_params(axis="y", labelsize=7)
    rows = range(len(jobs))
    draw_spans(ax, rows, [j.submitted_ms for j in jobs], [j.started_ms for j in jobs],
               "queued", height=0.3)
    draw_spans(ax, rows, [j.started_ms for j in jobs], [j.finished_ms for j in jobs], "job",
               edges=True)
    add_legend(fig, [key_handle("queued", "call queued for a free pool thread"),
                     key_handle("job", "call running in a pool thread")])
    return fig
