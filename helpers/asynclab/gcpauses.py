"""Garbage-collector pauses: when CPython's cyclic collector ran, and for how long.

The recorder times task steps. A collection stops every thread of the process (it holds
the GIL); when it runs between two steps (in a plain callback, or in the loop's own code)
it leaves a gap on every lane of a timeline, and when it runs inside a step it makes that
step longer. ``gc_pauses()`` notes every collection through ``gc.callbacks``
(https://docs.python.org/3/library/gc.html#gc.callbacks) while its block runs, so a
figure can show what filled a gap::

    with asynclab.record() as tl, gc_pauses() as paused:  # paused's zero: right after tl's
        ...
    fig = tl.plot()
    paused.add_lane(fig)

The zero of its times is when its block is entered: entered right after ``record()`` (as
above) that is a few microseconds after the recording's own zero.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any

from .records import Span

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["GCPause", "GCPauses", "gc_pauses"]

LANE = "garbage collector"
LEGEND = "loop paused by the garbage collector"


@dataclass(frozen=True)
class GCPause:
    """One collection: its generation (0, 1 or 2) and when it ran, in ms from the zero."""

    generation: int
    start_ms: float
    end_ms: float

    @property
    def ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass
class GCPauses:
    """The collections seen while a ``gc_pauses()`` block ran (filled as they happen)."""

    t0_ns: int = field(default_factory=perf_counter_ns)
    pauses: list[GCPause] = field(default_factory=list)

    @property
    def total_ms(self) -> float:
        return sum(p.ms for p in self.pauses)

    @property
    def longest_ms(self) -> float:
        return max((p.ms for p in self.pauses), default=0.0)

    def spans(self) -> list[Span]:
        """Every pause as a ``Span`` on one lane, coloured as the loop blocked."""
        return [Span(LANE, p.start_ms, p.end_ms, "blocked") for p in self.pauses]

    def add_lane(self, fig: Figure) -> Figure:
        """Add a "garbage collector" lane below a timeline figure (nothing if none ran)."""
        from .plotting import add_lanes

        return add_lanes(fig, self.spans(), lane_label=LANE, legend_label=LEGEND, edges=False)

    def __str__(self) -> str:
        return (f"paused the process for {self.total_ms:.1f} ms in all, the longest pause "
                f"{self.longest_ms:.1f} ms")


@contextlib.contextmanager
def gc_pauses() -> Iterator[GCPauses]:
    """Note every garbage collection (any thread) while the block runs."""
    log = GCPauses()
    started: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        now = perf_counter_ns()
        if phase == "start":
            started.append(now)
        elif started:  # a "stop" whose "start" came before the block is left out
            t0 = started.pop()
            log.pauses.append(GCPause(int(info.get("generation", -1)),
                                      (t0 - log.t0_ns) / 1e6, (now - log.t0_ns) / 1e6))

    gc.callbacks.append(callback)
    try:
        yield log
    finally:
        gc.callbacks.remove(callback)
