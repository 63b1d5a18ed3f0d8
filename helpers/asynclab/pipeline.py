"""Instruments for pipelines: a queue-depth sampler and throughput plots.

``sample_queues({"parse": q1, "summarise": q2})`` records each ``asyncio.Queue``'s
``qsize()`` over time while a block runs, so backpressure shows as a queue pinned at its
``maxsize``. The stages, queues and workers being taught stay in the notebook.
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

__all__ = ["QueueDepths", "plot_queue_depths", "plot_throughput", "sample_queues"]

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

    def full_fraction(self, name: str) -> float:
        """The fraction of samples in which queue ``name`` was at its ``maxsize``."""
        d = self.depths(name)
        if not d.size or self.maxsize[name] <= 0:
            return 0.0
        return float(np.mean(d >= self.maxsize[name]))

    def __repr__(self) -> str:
        peaks = ", ".join(f"{n} {self.peak(n)}/{self.maxsize[n]}" for n in self.names)
        return f"<QueueDepths {len(self._times_ns)} samples; peak/maxsize: {peaks}>"

    def plot(self, *, title: str | None = None) -> Figure:
        return plot_queue_depths(self, title=title)

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


@styled
def plot_queue_depths(depths: QueueDepths, *, title: str | None = None) -> Figure:
    """One row per queue: its depth over time (items queued), with its ``maxsize`` dashed."""
    if not isinstance(depths, QueueDepths):
        raise TypeError(f"depths must be a QueueDepths, got {type(depths).__name__}")
    n = len(depths.names)
    fig, axes = new_figure(9.0, 0.6 + 1.3 * n, nrows=n, sharex=True, squeeze=False,
                           title=title or "Queue depth over time")
    t = depths.times_ms
    for ax, name in zip(axes[:, 0], depths.names, strict=True):
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
    add_legend(fig, axes[0, 0].get_legend_handles_labels()[0])
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
