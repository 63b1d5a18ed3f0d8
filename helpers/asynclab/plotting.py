"""Figures in the house style: one meaning per colour (``asynclab.palette``), fast at any size.

``new_figure`` / ``styled`` / ``add_legend``: the style, the figure, its one legend.
``lane_figure`` + ``draw_spans`` + ``draw_markers`` draw lanes of spans (timelines, agents,
workers): one compound path per colour, so 100,000 spans cost about one artist
(docs/recorder.md); ``add_lanes`` adds lanes; ``fit_unit`` labels time in ms or µs.
``hbars`` draws grouped horizontal bars with their values written at their ends.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from .palette import AGENT_LABELS, COLORS, LABELS, MARKERS, SERIES, SPAN_COLORS
from .queueing import queue_depth
from .records import Span, TimelineData
from .validate import check_int, check_number

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["COLORS", "LABELS", "STYLE", "add_lanes", "add_legend", "draw_markers", "draw_spans",
           "fit_unit", "hbars", "key_handle", "lane_figure", "merge_spans", "new_figure",
           "plot_timeline", "span_patch", "style", "styled"]

#: The one look of every figure (matplotlib rcParams).
STYLE = {
    "font.size": 9, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 9,
    "axes.titlesize": 11, "axes.titlelocation": "left", "figure.titlesize": 11,
    "axes.spines.top": False, "axes.spines.right": False, "figure.facecolor": "white",
    "axes.grid": True, "axes.grid.axis": "x", "axes.axisbelow": True, "grid.alpha": 0.3,
    "legend.fontsize": 8, "legend.frameon": False,
    "axes.prop_cycle": f"cycler('color', {list(SERIES)!r})",
}
LANE_IN = 0.3  # height of one lane (inches)
F = TypeVar("F", bound=Callable)


def style():
    """A context in which figures take the house style (``matplotlib.rc_context``)."""
    import matplotlib as mpl

    return mpl.rc_context(STYLE)


def styled(fn: F) -> F:
    """Run ``fn`` (a function that makes a figure) under ``style()``: the rcParams are read
    as each title, label and legend is made, so the whole function needs them."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@styled
def new_figure(width: float = 9.0, height: float = 3.0, *, nrows: int = 1, ncols: int = 1,
               title: str | None = None, suptitle: str | None = None,
               **subplots) -> tuple[Figure, Axes]:
    """A figure and its axes (an array of them for ``nrows`` x ``ncols`` > 1, as
    ``plt.subplots`` makes) in the house style, that display once when returned from a cell
    (no pyplot state kept). ``title`` goes left above the (first) axes, ``suptitle`` left
    above all the panels."""
    import matplotlib.pyplot as plt  # loads the notebook backend, which knows how to show it

    for name, text in (("title", title), ("suptitle", suptitle)):
        if text is not None and not isinstance(text, str):
            raise TypeError(f"{name} must be a string or None, got {type(text).__name__}")
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), layout="constrained",
                             **subplots)
    plt.close(fig)  # shown only when returned or displayed, never twice, never kept
    if title is not None:
        fig.axes[0].set_title(title)
    if suptitle is not None:
        fig.suptitle(suptitle, x=0.01, ha="left")
    return fig, axes


def key_handle(key: str, label: str | None = None) -> Artist:
    """The legend entry of a palette key: a patch of its colour, or its marker (failed,
    cancelled); labelled with the palette's label unless ``label`` is given."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    color = _color(key)
    label = label or LABELS.get(key) or AGENT_LABELS[key]
    if key in MARKERS:
        marker, filled = MARKERS[key]
        return Line2D([], [], marker=marker, ls="", color=color, mfc=color if filled else "none",
                      label=label)
    return Patch(color=color, label=label)


def add_legend(fig: Figure, handles: Iterable[Artist]) -> None:
    """One legend below the axes, joined with the figure's legend if it has one: one entry
    per label, and one per colour (a colour has one meaning, so one entry)."""
    from matplotlib.colors import to_hex
    from matplotlib.patches import Patch, Rectangle

    pairs = []
    for legend in list(fig.legends):
        pairs += zip(legend.legend_handles, [t.get_text() for t in legend.get_texts()], strict=True)
        legend.remove()
    pairs += [(h, h.get_label()) for h in handles]
    seen: set[str] = set()
    kept_h, kept_l = [], []
    for handle, label in pairs:
        color = (to_hex(handle.get_facecolor()) if isinstance(handle, Patch | Rectangle)
                 else None)
        if label in seen or (color and color in seen):
            continue
        seen.update(x for x in (label, color) if x)
        kept_h.append(handle)
        kept_l.append(label)
    if kept_h:
        fig.legend(kept_h, kept_l, loc="outside lower center", ncols=min(4, len(kept_h)))


def _color(key: str) -> str:
    if not isinstance(key, str) or key not in SPAN_COLORS:
        raise ValueError(f"unknown colour key {key!r}; the palette has: {', '.join(SPAN_COLORS)}")
    return SPAN_COLORS[key]


def span_patch(x0, x1, y0, y1, color: str, *, alpha: float = 1.0):
    """One ``PathPatch`` of many rectangles [x0, x1] x [y0, y1] (numpy arrays or scalars)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    x0, x1, y0, y1 = (v.ravel() for v in np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (x0, x1, y0, y1))))
    verts = np.stack([x0, y0, x1, y0, x1, y1, x0, y1, x0, y0], axis=1).reshape(-1, 2)
    codes = np.tile(np.array([Path.MOVETO] + [Path.LINETO] * 3 + [Path.CLOSEPOLY],
                             dtype=Path.code_type), x0.size)
    path = Path(verts, codes)
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


def _pixel(ax: Axes) -> float:
    """About one pixel, in x units (set the x limits first)."""
    lo, hi = ax.get_xlim()
    return abs(hi - lo) / (ax.figure.get_figwidth() * ax.figure.dpi)


def draw_spans(ax: Axes, rows, start_ms, end_ms, keys: str | Sequence[str], *,
               height: float = 0.7, edges: bool = False) -> list[str]:
    """Draw span ``i`` on lane ``rows[i]`` from ``start_ms[i]`` to ``end_ms[i]``, in the colour
    of ``keys[i]`` (a key of ``palette.SPAN_COLORS``; one key for all spans, or one each).

    One ``PathPatch`` per colour, whatever the number of spans: spans less than a pixel
    apart are merged, shorter ones widened to a pixel (set the x limits first). ``edges``
    draws a thin white line where each span at least 3 pixels wide starts and ends, all in
    one ``LineCollection``, so that back-to-back spans on a lane stay distinct. Returns the
    keys drawn, in palette order, for the legend.
    """
    from matplotlib.collections import LineCollection

    x0, x1, rows = (np.asarray(v, dtype=float).ravel() for v in (start_ms, end_ms, rows))
    if not x0.size == x1.size == rows.size:
        raise ValueError(f"rows, start_ms and end_ms need the same length, got {rows.size}, "
                         f"{x0.size} and {x1.size}")
    keys = np.asarray(keys)
    if keys.ndim and keys.size != x0.size:
        raise ValueError(f"keys must be one colour key, or one per span ({x0.size}), got {keys.size}")
    kinds = [str(k) for k in np.unique(keys)]
    for k in kinds:
        _color(k)
    if x0.size == 0:
        return []
    px = _pixel(ax)
    x1 = np.maximum(x1, x0 + px)
    for k in kinds:
        mine = slice(None) if keys.ndim == 0 else keys == k
        m0, m1, mrows = merge_spans(x0[mine], x1[mine], rows[mine], px)
        ax.add_artist(span_patch(m0, m1, mrows - height / 2, mrows + height / 2, SPAN_COLORS[k]))
    if edges and (wide := x1 - x0 >= 3 * px).any():
        ticks = np.unique(np.column_stack([np.r_[rows[wide], rows[wide]],
                                           np.round(np.r_[x0[wide], x1[wide]] / px)]), axis=0)
        segments = np.empty((len(ticks), 2, 2))
        segments[:, :, 0] = ticks[:, 1:2] * px
        segments[:, 0, 1] = ticks[:, 0] - height / 2
        segments[:, 1, 1] = ticks[:, 0] + height / 2
        ax.add_collection(LineCollection(segments, colors="white", linewidths=1, zorder=2.5),
                          autolim=False)
    return [k for k in SPAN_COLORS if k in kinds]


def draw_markers(ax: Axes, rows, at_ms, key: str) -> bool:
    """Mark moments (a task failed, was cancelled) on lanes, in ``palette.MARKERS`` style."""
    rows, at_ms = np.asarray(rows, dtype=float), np.asarray(at_ms, dtype=float)
    if key not in MARKERS:
        raise ValueError(f"markers are for {', '.join(MARKERS)}, got {key!r}")
    if not at_ms.size:
        return False
    marker, filled = MARKERS[key]
    ax.scatter(at_ms, rows, marker=marker, s=36, zorder=3, linewidth=1.2, edgecolor=COLORS[key],
               facecolor=COLORS[key] if filled else "none")
    return True


def _set_lanes(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_yticks(range(len(labels)), labels, **({"fontsize": 8} if len(labels) > 12 else {}))
    ax.set_ylim(max(1, len(labels)) - 0.5, -0.5)


def lane_figure(labels: Sequence[str], x_max: float, *, width: float = 9.0, title: str,
                xlabel: str = "time since the recording started (ms)") -> tuple[Figure, Axes]:
    """A figure with one lane per label, top to bottom, on a ms axis from 0 to ``x_max``."""
    fig, ax = new_figure(width, min(12.0, 1.3 + LANE_IN * max(1, len(labels))), title=title)
    _set_lanes(ax, labels)
    ax.set_xlim(0, max(x_max, 1e-3) * 1.01)
    ax.set_xlabel(xlabel)
    return fig, ax


@styled
def add_lanes(fig: Figure, spans: Iterable[Span], *, lane_label: str, legend_label: str,
              edges: bool = True) -> Figure:
    """Add one lane per distinct ``Span.lane`` below a lane figure's lanes, same ms axis, for
    work the recorder cannot see (jobs in other processes, a cluster's task stream).
    ``legend_label`` says what the spans' colour means here (unless the legend already has
    that colour); ``edges`` marks where each span starts and ends."""
    spans = list(spans)
    if not all(isinstance(s, Span) for s in spans):
        raise TypeError("spans must be a list of asynclab.records.Span")
    spans.sort(key=lambda s: s.start_ms)  # lanes numbered in order of their first span
    if not spans:
        return fig
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    order = list(dict.fromkeys(s.lane for s in spans))
    rows = [len(labels) + order.index(s.lane) for s in spans]
    x0, x1 = [s.start_ms for s in spans], [s.end_ms for s in spans]
    _set_lanes(ax, labels + [f"{lane_label} {k + 1}" for k in range(len(order))])
    lo, hi = ax.get_xlim()
    ax.set_xlim(min(lo, min(x0)), max(hi, max(x1) * 1.01))
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, min(12.0, h + LANE_IN * len(order)))
    drawn = draw_spans(ax, rows, x0, x1, [s.kind for s in spans], edges=edges)
    add_legend(fig, [key_handle(k, legend_label) for k in drawn])
    return fig


def hbars(ax: Axes, groups: Sequence[str], series: Mapping[str, Sequence[float | None]],
          colors: Mapping[str, str | Sequence[str]], *, fmt: str = "{:.2f}", log: bool = False,
          x_ref: float = 0.0) -> dict[str, list[float]]:
    """Grouped horizontal bars: a row per group (top to bottom), in it one bar per series
    (``series[name][i]`` for group ``i``; None: no bar), labelled ``name`` for the legend and
    its value written at its end with ``fmt``. ``colors[name]`` is a colour, or one per
    group. The x axis starts at 0 and reaches past the values and ``x_ref`` (with ``log``:
    a log scale around the values). Returns each series' bar centres (y)."""
    band = 0.8 / len(series)
    centres, values = {}, []
    for k, (name, row) in enumerate(series.items()):
        keep = [g for g, v in enumerate(row) if v is not None]
        ys = [g - 0.4 + band * (k + 0.5) for g in keep]
        xs = [float(row[g]) for g in keep]
        color = colors[name]
        color = color if isinstance(color, str) else [color[g] for g in keep]
        ax.barh(ys, xs, height=band * 0.8, color=color, label=name)
        for y, x in zip(ys, xs, strict=True):
            ax.text(x, y, " " + fmt.format(x), va="center", fontsize=8)
        centres[name], values = ys, values + xs
    ax.set_yticks(range(len(groups)), groups)
    ax.set_ylim(len(groups) - 0.5, -0.5)
    if log:
        ax.set_xscale("log")
        ax.set_xlim(min(values) / 2, max(values) * 6)
    else:
        ax.set_xlim(0, max(values + [x_ref]) * 1.2)
    return centres


@styled
def plot_timeline(tl: TimelineData, *, title: str | None = None, blocked_ms: float = 10.0,
                  max_task_lanes: int = 30, show_loop: bool = True, width: float = 9.0,
                  tasks: Iterable[str] | None = None) -> Figure:
    """Draw ``tl`` (a ``Timeline``'s ``data``): an "event loop" lane, one lane per task
    (running vs waiting), a lane of the jobs waiting for a pool thread (if any waited), and
    one per worker thread (each job's edges marked), on a ms or µs axis (``fit_unit``).
    Steps of at least ``blocked_ms`` are drawn as blocking the loop. With more than ``max_task_lanes`` tasks, neighbours share a lane.
    ``tasks`` (task names) keeps only those tasks' lanes, for example to leave out a
    library's internal tasks; the event-loop lane still shows every step the loop ran."""
    blocked_ms = check_number("blocked_ms", blocked_ms, 0, 1e7, lo_open=True)
    max_task_lanes = check_int("max_task_lanes", max_task_lanes, 1, 200)
    width = check_number("width", width, 3, 30)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")

    shown = np.arange(len(tl.task_names))
    if tasks is not None:
        tasks = None if isinstance(tasks, str) else list(tasks)
        if tasks is None or not all(isinstance(t, str) for t in tasks):
            raise TypeError("tasks must be a list of task names (strings) or None; one name "
                            "goes in a list too")
        if unknown := sorted(set(tasks) - set(tl.task_names)):
            raise ValueError(f"tasks: no task named {', '.join(map(repr, unknown))}; "
                             f"recorded: {', '.join(tl.task_names)}")
        shown = np.flatnonzero([name in set(tasks) for name in tl.task_names])
    names = [tl.task_names[i] for i in shown]
    n_tasks = len(names)
    group = max(1, -(-n_tasks // max_task_lanes))  # tasks per lane
    labels: list[str] = []
    if show_loop:
        labels.append("event loop")
    first_task_row = len(labels)
    labels += names if group == 1 else [f"tasks {a + 1}-{min(n_tasks, a + group)}"
                                        for a in range(0, n_tasks, group)]
    x_max = max(tl.wall_ms, float(tl.step_end.max()) if len(tl.step_end) else 0.0, 1e-3)
    # The pool's queue on a lane of its own (a waiting job has no thread yet), if a job
    # waited long enough to see: at least 1% of the figure.
    q_t, q_n = queue_depth(tl.job_submit, tl.job_start)
    queue_row = len(labels) if len(tl.job_start) and (
        tl.job_start - tl.job_submit).max() >= 0.01 * x_max else -1
    if queue_row >= 0:
        labels.append(f"jobs waiting for a thread (up to {int(q_n.max())})")
    first_thread_row = len(labels)
    labels += [f"thread {name}" for name in tl.threads]

    fig, ax = lane_figure(labels, x_max, width=width, title=title or "What ran when")
    fit_unit(ax)
    used: list[str] = []

    # Tasks: a thin "waiting" bar from creation to completion, "running" bars on top.
    task_rows = np.full(len(tl.task_names), -1)  # -1: a task not drawn
    task_rows[shown] = first_task_row + np.arange(n_tasks) // group
    finished, _, _ = tl.task_ends()
    done = np.where(np.isnan(finished), x_max, finished)
    used += draw_spans(ax, task_rows[shown], tl.created_ms[shown], done[shown], "waiting",
                       height=0.28)
    rows = task_rows[tl.step_lane]
    long = tl.step_end - tl.step_start >= blocked_ms
    on_task = rows >= 0
    on_loop = ~long if show_loop else np.zeros(len(rows), dtype=bool)
    # "running": steps on their task's lane and (short ones) on the loop's, one artist
    used += draw_spans(ax, np.r_[rows[on_task], np.zeros(on_loop.sum())],
                       np.r_[tl.step_start[on_task], tl.step_start[on_loop]],
                       np.r_[tl.step_end[on_task], tl.step_end[on_loop]], "running")
    if show_loop:
        used += draw_spans(ax, np.zeros(long.sum()), tl.step_start[long], tl.step_end[long],
                           "blocked")
    for key in MARKERS:
        idx = [i for i, outcome in enumerate(tl.outcomes) if outcome == key and task_rows[i] >= 0]
        if draw_markers(ax, task_rows[idx], done[idx], key):
            used.append(key)
    if queue_row >= 0:  # height: how many jobs wait, from 0 to the most at once
        level = queue_row + 0.35 - 0.7 * np.r_[q_n, 0] / q_n.max()
        ax.fill_between(np.r_[q_t, x_max], level, queue_row + 0.35, step="post", linewidth=0,
                        color=COLORS["queued"])
        used.append("queued")
    # Worker threads: each job running, its edges shown (back-to-back jobs stay distinct).
    used += draw_spans(ax, first_thread_row + tl.job_thread, tl.job_start, tl.job_end, "job",
                       edges=True)
    add_legend(fig, [key_handle(k) for k in COLORS if k in used])
    return fig


def fit_unit(ax: Axes, us_below_ms: float = 5.0) -> str:
    """Label a ms time axis in the unit that fits: µs when it spans less than
    ``us_below_ms`` (the data stay in ms; only the tick labels and "(ms)" change)."""
    if abs(ax.get_xlim()[1] - ax.get_xlim()[0]) >= us_below_ms:
        return "ms"
    ax.xaxis.set_major_formatter(lambda x, _: f"{x * 1e3:g}")
    ax.set_xlabel(ax.get_xlabel().replace("(ms)", "(µs)"))
    return "µs"
