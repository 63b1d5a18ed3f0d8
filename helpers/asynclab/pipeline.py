"""Instruments for pipelines: a queue-depth sampler and throughput plots.

``sample_queues({"parse": q1, "summarise": q2})`` records each ``asyncio.Queue``'s
``qsize()`` over time while a block runs, so backpressure shows as a queue pinned at its
``maxsize``. The stages, queues and workers being taught stay in the notebook.
``QueueDepths.plot(stalls={"producer": spans})`` adds a row for the moments a task waited
on ``put`` (a full queue), and ``plot_runs`` compares repeated throughput measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from time import perf_counter_ns
from typing import TYPE_CHECKING

import numpy as np

from .palette import COLORS, SERIES
from .plotting import add_legend, new_figure, styled
from .validate import check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["QueueDepths", "plot_queue_depths", "plot_runs", "plot_throughput", "sample_queues"]

#: A put shorter than this (ms) did not wait: it is left out of a stalls row.
MIN_STALL_MS = 0.1

#: Colours for several curves on one plot (``palette.SERIES``: none means a kind of time).
CURVE_COLORS = SERIES


class QueueDepths:
    """Depths sampled by ``sample_queues()``: one sample per tick for every queue."""

    def __init__(self, queues: Mapping[str, asyncio.Queue], interval: float) -> None:
        self.interval = interval
        self.names = list(queues)
        self.maxsize = {name: q.maxsize for name, q in queues.items()}
        self._queues = dict(queues)
        self._t0 = perf_counter_ns()
        self._times_ns: list[int] = []
        self._depths: dict[str, list[int]] = {name: [] for name in queues}

    def _sample(self) -> None:
        self._times_ns.append(perf_counter_ns())
        for name, q in self._queues.items():
            self._depths[name].append(q.qsize())

    @property
    def times_ms(self) -> np.ndarray:
        """When each sample was taken, in ms from the start of the block."""
        return (np.array(self._times_ns, dtype=float) - self._t0) / 1e6

    def depths(self, name: str) -> np.ndarray:
        """The sampled ``qsize()`` of queue ``name``."""
        if name not in self._depths:
            raise KeyError(f"no queue named {name!r}; sampled: {', '.join(self.names)}")
        return np.array(self._depths[name], dtype=int)

    def peak(self, name: str) -> int:
        """The largest depth seen for queue ``name`` (0 if never sampled)."""
        d = self.depths(name)
        return int(d.max()) if d.size else 0

    def first_full_ms(self, name: str) -> float | None:
        """When queue ``name`` was first seen at its ``maxsize`` (ms from the start of the
        block), or ``None`` if it never was (or is unbounded)."""
        d = self.depths(name)
        if self.maxsize[name] <= 0 or not (d >= self.maxsize[name]).any():
            return None
        return float(self.times_ms[int(np.argmax(d >= self.maxsize[name]))])

    def to_ms(self, t_s: float) -> float:
        """A ``time.perf_counter()`` reading, as ms from the start of the block."""
        return (t_s * 1e9 - self._t0) / 1e6

    def full_fraction(self, name: str) -> float:
        """The fraction of samples in which queue ``name`` was at its ``maxsize``."""
        d = self.depths(name)
        if not d.size or self.maxsize[name] <= 0:
            return 0.0
        return float(np.mean(d >= self.maxsize[name]))

    def __repr__(self) -> str:
        peaks = ", ".join(f"{n} {self.peak(n)}/{self.maxsize[n]}" for n in self.names)
        return f"<QueueDepths {len(self._times_ns)} samples; peak/maxsize: {peaks}>"

    def plot(self, *, title: str | None = None,
             stalls: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> Figure:
        return plot_queue_depths(self, title=title, stalls=stalls)

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.interval)


@contextlib.asynccontextmanager
async def sample_queues(
    queues: Mapping[str, asyncio.Queue], interval: float = 0.002
) -> AsyncIterator[QueueDepths]:
    """Sample each queue's depth every ``interval`` seconds while the block runs::

        async with asynclab.pipeline.sample_queues({"parse": parse_q}) as depths:
            await run_pipeline()
        depths.peak("parse")

    The sampler is a task named ``queue-sampler``; it is cancelled when the block ends.
    """
    if not isinstance(queues, Mapping) or not queues:
        raise TypeError("queues must be a non-empty dict of name -> asyncio.Queue")
    for name, q in queues.items():
        if not isinstance(name, str) or not isinstance(q, asyncio.Queue):
            raise TypeError(f"queues must map names (str) to asyncio.Queue, got {name!r}: "
                            f"{type(q).__name__}")
    interval = check_number("interval", interval, 0.0005, 1.0)
    depths = QueueDepths(queues, interval)
    task = asyncio.create_task(depths._run(), name="queue-sampler")
    try:
        yield depths
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        depths._sample()  # the depth at the end of the block


def _stall_spans(depths: QueueDepths, stalls: Mapping | None) -> dict[str, list[tuple[float, float]]]:
    if stalls is None:
        return {}
    if not isinstance(stalls, Mapping):
        raise TypeError("stalls must be a dict of name -> list of (start, end) perf_counter() seconds")
    out = {}
    for name, spans in stalls.items():
        try:
            pairs = [(float(a), float(b)) for a, b in spans]
        except (TypeError, ValueError):
            raise TypeError(f"stalls[{name!r}] must be a list of (start, end) pairs") from None
        spans_ms = [(depths.to_ms(a), depths.to_ms(b)) for a, b in pairs]
        out[str(name)] = [(a, b) for a, b in spans_ms if b - a >= MIN_STALL_MS]
    return out


@styled
def plot_queue_depths(depths: QueueDepths, *, title: str | None = None,
                      stalls: Mapping[str, Sequence[tuple[float, float]]] | None = None) -> Figure:
    """One row per queue: its depth over time (items queued), with its ``maxsize`` dashed.

    ``stalls`` (name -> ``(start, end)`` pairs of ``time.perf_counter()`` seconds) adds a
    row per name on top, drawn where that task waited on ``put`` because a queue was full
    (puts shorter than ``MIN_STALL_MS`` did not wait and are left out)."""
    if not isinstance(depths, QueueDepths):
        raise TypeError(f"depths must be a QueueDepths, got {type(depths).__name__}")
    stall_rows = _stall_spans(depths, stalls)
    n = len(depths.names) + len(stall_rows)
    fig, axes = new_figure(9.0, 0.6 + 1.3 * n, nrows=n, sharex=True, squeeze=False,
                           title=title or "Queue depth over time")
    t = depths.times_ms
    handles = []
    for ax, (name, spans) in zip(axes[: len(stall_rows), 0], stall_rows.items(), strict=True):
        ax.broken_barh([(a, max(b - a, 0.0)) for a, b in spans], (0.2, 0.6),
                       color=COLORS["waiting"], linewidth=0,
                       label=f"{name} waiting: put() on a full queue")
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel(name)
        handles += ax.get_legend_handles_labels()[0]
    for ax, name in zip(axes[len(stall_rows):, 0], depths.names, strict=True):
        d = depths.depths(name)
        ax.fill_between(t, d, step="post", color=COLORS["queued"], alpha=0.85, linewidth=0,
                        label="items waiting in the queue")
        top = depths.maxsize[name]
        if top > 0:
            ax.axhline(top, color=COLORS["ideal"], ls="--", lw=1.2, label="maxsize")
        ax.set_ylim(0, max(top, depths.peak(name), 1) * 1.15)
        ax.set_ylabel(f"{name}\nqueue")
    axes[-1, 0].set_xlabel("time since the block started (ms)")
    axes[-1, 0].set_xlim(0, max(float(t.max()) if t.size else 0.0, 1e-3))
    add_legend(fig, handles + axes[len(stall_rows), 0].get_legend_handles_labels()[0])
    return fig


@styled
def plot_runs(runs: Mapping[str, Sequence[float]], *, ylabel: str = "throughput (items/s)",
              title: str | None = None) -> Figure:
    """Measurements per setting: a bar at the best run (other programs can only slow a run
    down) and, when a setting ran more than once, a dot for every run."""
    if not isinstance(runs, Mapping) or not runs:
        raise TypeError("runs must be a non-empty dict of label -> measured values")
    values = {}
    for label, ys in runs.items():
        ys = np.asarray(ys, dtype=float)
        if ys.ndim != 1 or ys.size == 0:
            raise ValueError(f"runs[{label!r}] must hold at least one number")
        values[str(label)] = ys
    repeated = any(ys.size > 1 for ys in values.values())
    fig, ax = new_figure(7.0, 3.2, title=title or ("Best of several runs" if repeated else "One run each"))
    x = np.arange(len(values))
    ax.bar(x, [ys.max() for ys in values.values()], width=0.6, color=SERIES[0],
           label="best run" if repeated else None)
    if repeated:
        for i, ys in enumerate(values.values()):
            ax.plot(np.full(ys.size, i), ys, "o", color=SERIES[1], ms=5,
                    label="each run" if i == 0 else None)
        add_legend(fig, ax.get_legend_handles_labels()[0])
    ax.set_xticks(x, list(values))
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, None)
    ax.grid(True, axis="y")
    return fig


@styled
def plot_throughput(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str = "throughput (items/s)",
    title: str | None = None,
) -> Figure:
    """Throughput curves: one line with markers per entry of ``curves``, all over ``x``."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("x must be a non-empty sequence of numbers")
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("curves must be a non-empty dict of label -> values")
    if len(curves) > len(CURVE_COLORS):
        raise ValueError(f"curves must have at most {len(CURVE_COLORS)} entries, got {len(curves)}")
    fig, ax = new_figure(7.0, 3.2, title=title or "Throughput")
    markers = "osD^vP"
    for i, (label, ys) in enumerate(curves.items()):
        ys = np.asarray(ys, dtype=float)
        if ys.shape != x.shape:
            raise ValueError(f"curve {label!r} has {ys.size} values, x has {x.size}")
        ax.plot(x, ys, marker=markers[i], color=CURVE_COLORS[i], lw=1.8, label=label)
    if np.all(x == np.round(x)):  # counts of workers or items: integer ticks
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, None)
    ax.grid(True, axis="both")
    add_legend(fig, ax.get_legend_handles_labels()[0])
    return fig
