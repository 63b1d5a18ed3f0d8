"""Figures in the house style: one meaning per colour, time in ms, fast at any size.

Spans are drawn as one compound path per colour: 100,000 spans cost about as much as a
single artist, where ``broken_barh`` or one ``Rectangle`` each would not (docs/recorder.md
has the measurements).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .validate import check_int, check_number

if TYPE_CHECKING:
    from collections.abc import Iterable

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .records import TimelineData

__all__ = ["COLORS", "LABELS", "add_lanes", "merge_spans", "new_figure", "plot_timeline", "span_patch"]

#: The house colours (Okabe-Ito, safe for colour-blind readers): one meaning each,
#: in every notebook.
COLORS = {
    "running": "#0072B2",  # task running on the loop
    "waiting": "#56B4E9",  # task alive but waiting (suspended at an await, or queued)
    "queued": "#E69F00",  # pool job submitted, waiting for a free worker
    "job": "#009E73",  # pool job running in a worker thread
    "blocked": "#D55E00",  # a step so long it blocked the loop
    "failed": "#CC79A7",  # a task that ended with an exception
    "cancelled": "#000000",  # a task that was cancelled
    "ideal": "#7F7F7F",  # a theoretical ideal, drawn for comparison
}
LABELS = {
    "running": "task running on the loop",
    "waiting": "task waiting",
    "queued": "job queued for a worker",
    "job": "job running in a worker thread",
    "blocked": "loop blocked (long step)",
    "failed": "task failed",
    "cancelled": "task cancelled",
    "ideal": "ideal",
}


def new_figure(width: float = 9.0, height: float = 3.0) -> tuple[Figure, Axes]:
    """A figure and axes that display once when returned from a cell (no pyplot state kept)."""
    import matplotlib.pyplot as plt  # loads the notebook backend, which knows how to show it

    fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    plt.close(fig)  # shown only when returned or displayed, never twice, never kept
    return fig, ax


def span_patch(x0, x1, y0, y1, color: str, *, alpha: float = 1.0):
    """One ``PathPatch`` of many rectangles [x0, x1] x [y0, y1] (numpy arrays or scalars)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    x0, x1, y0, y1 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x0, x1, y0, y1)))
    n = x0.size
    verts = np.empty((n, 5, 2))
    verts[:, 0] = np.column_stack([x0.ravel(), y0.ravel()])
    verts[:, 1] = np.column_stack([x1.ravel(), y0.ravel()])
    verts[:, 2] = np.column_stack([x1.ravel(), y1.ravel()])
    verts[:, 3] = np.column_stack([x0.ravel(), y1.ravel()])
    verts[:, 4] = verts[:, 0]
    codes = np.full((n, 5), Path.LINETO, dtype=Path.code_type)
    codes[:, 0] = Path.MOVETO
    codes[:, 4] = Path.CLOSEPOLY
    path = Path(verts.reshape(-1, 2), codes.ravel())
    return PathPatch(path, facecolor=color, edgecolor="none", linewidth=0, alpha=alpha)


def merge_spans(x0, x1, rows, gap: float):
    """Union of the spans [x0, x1] on each row, joining spans less than ``gap`` apart.

    Drawing cost then grows with rows x pixels, not with the number of spans: 100,000
    steps on 30 lanes become at most a few thousand rectangles, identical on screen when
    ``gap`` is about one pixel.
    """
    x0, x1, rows = (np.asarray(v, dtype=float).ravel() for v in (x0, x1, rows))
    if x0.size == 0:
        return x0, x1, rows
    order = np.lexsort((x0, rows))
    x0, x1, rows = x0[order], x1[order], rows[order]
    # Shift each row far to the right of the previous one so that a single running
    # maximum over all spans never carries an end from one row into the next.
    span = max(float(x1.max() - x0.min()), 1.0) * 4
    shift = (rows - rows.min()) * span
    reach = np.maximum.accumulate(x1 + shift) - shift  # furthest end so far in this row
    new = np.ones(x0.size, dtype=bool)
    new[1:] = (x0[1:] > reach[:-1] + gap) | (rows[1:] != rows[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], x0.size) - 1
    return x0[starts], reach[ends], rows[starts]


def plot_timeline(
    tl: TimelineData,
    *,
    title: str | None = None,
    blocked_ms: float = 10.0,
    max_task_lanes: int = 30,
    show_loop: bool = True,
    width: float = 9.0,
    tasks: Iterable[str] | None = None,
) -> Figure:
    """Draw ``tl`` (a ``Timeline``'s ``data``): an "event loop" lane, one lane per task (running vs waiting) and one per
    worker thread (queued vs running). Steps of at least ``blocked_ms`` are drawn as
    blocking the loop. With more than ``max_task_lanes`` tasks, neighbours share a lane.
    ``tasks`` (task names) keeps only those tasks' lanes, for example to leave out a
    library's internal tasks; the event-loop lane still shows every step the loop ran."""
    blocked_ms = check_number("blocked_ms", blocked_ms, 0, 1e7, lo_open=True)
    max_task_lanes = check_int("max_task_lanes", max_task_lanes, 1, 200)
    width = check_number("width", width, 3, 30)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")

    if tasks is None:
        shown = np.arange(len(tl.task_names))
    else:
        if isinstance(tasks, str):
            raise TypeError("tasks must be a list of task names (strings) or None, not one string")
        tasks = list(tasks)
        if not all(isinstance(t, str) for t in tasks):
            raise TypeError("tasks must be a list of task names (strings) or None")
        unknown = sorted(set(tasks) - set(tl.task_names))
        if unknown:
            raise ValueError(f"tasks: no task named {', '.join(map(repr, unknown))}; "
                             f"recorded: {', '.join(tl.task_names)}")
        shown = np.flatnonzero([name in set(tasks) for name in tl.task_names])
    names = [tl.task_names[i] for i in shown]
    n_tasks = len(names)
    group = max(1, -(-n_tasks // max_task_lanes))  # tasks per lane
    n_task_rows = -(-n_tasks // group) if n_tasks else 0
    labels: list[str] = []
    if show_loop:
        labels.append("event loop")
    first_task_row = len(labels)
    if group == 1:
        labels += names
    else:
        for r in range(n_task_rows):
            a, b = r * group, min(n_tasks, (r + 1) * group) - 1
            labels.append(f"tasks {a + 1}-{b + 1}")
    first_thread_row = len(labels)
    labels += [f"thread {name}" for name in tl.threads]
    n_rows = max(1, len(labels))

    x_max = max(tl.wall_ms, float(tl.step_end.max()) if len(tl.step_end) else 0.0, 1e-3)
    height = min(12.0, 1.3 + 0.28 * n_rows)
    fig, ax = new_figure(width, height)
    min_w = x_max / (width * fig.dpi)  # about one pixel: shorter spans are widened to it
    used: set[str] = set()

    def bars(x0, x1, rows, color_key, thickness):
        x0 = np.asarray(x0, dtype=float)
        if x0.size == 0:
            return
        x1 = np.maximum(np.asarray(x1, dtype=float), x0 + min_w)
        x0, x1, rows = merge_spans(x0, x1, np.asarray(rows, dtype=float), min_w)
        ax.add_artist(span_patch(x0, x1, rows - thickness / 2, rows + thickness / 2,
                                 COLORS[color_key]))
        used.add(color_key)

    # Tasks: a thin "waiting" bar from creation to completion, "running" bars on top.
    task_rows = np.full(len(tl.task_names), -1)  # -1: a task not drawn
    task_rows[shown] = first_task_row + np.arange(n_tasks) // group
    finished, _, _ = tl.task_ends()
    created = tl.created_ms
    done = np.where(np.isnan(finished), x_max, finished)
    bars(created[shown], done[shown], task_rows[shown], "waiting", 0.28)
    lanes = tl.step_lane
    drawn = task_rows[lanes] >= 0 if len(lanes) else np.zeros(0, dtype=bool)
    bars(tl.step_start[drawn], tl.step_end[drawn], task_rows[lanes][drawn], "running", 0.7)
    if show_loop and len(lanes):
        dur = tl.step_end - tl.step_start
        long = dur >= blocked_ms
        bars(tl.step_start[~long], tl.step_end[~long], np.zeros((~long).sum()), "running", 0.7)
        bars(tl.step_start[long], tl.step_end[long], np.zeros(long.sum()), "blocked", 0.7)
    # Outcomes worth a marker.
    for key, marker in (("failed", "X"), ("cancelled", "o")):
        idx = [i for i, outcome in enumerate(tl.outcomes) if outcome == key and task_rows[i] >= 0]
        if idx:
            ax.scatter(done[idx], task_rows[idx], marker=marker, s=36, zorder=3,
                       facecolor=COLORS[key] if marker == "X" else "none",
                       edgecolor=COLORS[key], linewidth=1.2)
            used.add(key)
    # Worker threads: queued (thin, from submit to start) and running.
    thread_rows = first_thread_row + tl.job_thread
    bars(tl.job_submit, tl.job_start, thread_rows, "queued", 0.28)
    bars(tl.job_start, tl.job_end, thread_rows, "job", 0.7)

    ax.set_xlim(0, x_max * 1.01)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_yticks(range(len(labels)), labels, fontsize=8 if n_rows > 12 else 9)
    ax.set_xlabel("time since the recording started (ms)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    if title is None:
        title = "What ran when"
    ax.set_title(title, loc="left", fontsize=11)
    _legend(ax, [k for k in COLORS if k in used])
    return fig


def _legend(ax: Axes, keys: list[str]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for key in keys:
        if key == "failed":
            handles.append(Line2D([], [], marker="X", ls="", color=COLORS[key], label=LABELS[key]))
        elif key == "cancelled":
            handles.append(Line2D([], [], marker="o", ls="", mfc="none", color=COLORS[key],
                                  label=LABELS[key]))
        else:
            handles.append(Patch(color=COLORS[key], label=LABELS[key]))
    if handles:
        ax.figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)),
                         fontsize=8, frameon=False)


def add_lanes(fig: Figure, workers: list[str], x0, x1, *, lane_label: str, legend_label: str,
              edges: bool = False) -> Figure:
    """Add one lane per distinct worker (in order of first appearance) below the lanes of a
    ``plot_timeline`` figure, with a "job running" span per entry (same ms axis).

    For work the recorder cannot see: jobs in other processes, a cluster's task stream.
    ``edges`` marks where each span starts and ends (back-to-back tasks stay distinct).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Patch

    if not workers:
        return fig
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    order: list[str] = []
    for w in workers:
        if w not in order:
            order.append(w)
    rows = np.array([len(labels) + order.index(w) for w in workers], dtype=float)
    x0, x1 = np.asarray(x0, dtype=float), np.asarray(x1, dtype=float)
    ax.add_artist(span_patch(x0, x1, rows - 0.35, rows + 0.35, COLORS["job"]))
    if edges:  # one collection for all edges, not one artist per span
        ticks = [[(x, r - 0.35), (x, r + 0.35)] for x, r in zip(np.r_[x0, x1], np.r_[rows, rows],
                                                                   strict=True)]
        ax.add_collection(LineCollection(ticks, colors="white", linewidths=1), autolim=False)
    labels += [f"{lane_label} {k + 1}" for k in range(len(order))]
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, float(x0.min())), max(hi, float(x1.max()) * 1.01))
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, min(12.0, h + 0.28 * len(order)))
    handles, names = [], []
    for legend in list(fig.legends):
        handles += list(legend.legend_handles)
        names += [t.get_text() for t in legend.get_texts()]
        legend.remove()
    if LABELS["job"] not in names:  # one meaning per colour: one legend entry for it
        handles.append(Patch(color=COLORS["job"]))
        names.append(legend_label)
    fig.legend(handles, names, loc="outside lower center", ncols=min(4, len(names)), fontsize=8,
               frameon=False)
    return fig
