"""Instruments for a Dask cluster: its task stream as lanes beside an asynclab Timeline.

Dask's workers stamp each task with wall-clock time (``time.time()``, seconds since
1970); a ``Timeline`` counts milliseconds from its ``record()`` start on
``perf_counter``. ``stream_spans`` converts one into the other with an offset measured at
the start: take ``wall0 = time.time()`` as the recording starts and pass it in. Works
without Dask installed (it only reads the records), so it can be imported anywhere.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .palette import SERIES
from .plotting import add_lanes, add_legend, hbars, new_figure, styled
from .records import Span
from .validate import check_number
from .workloads import JobTiming, burn

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["stream_spans", "add_stream_lanes", "plot_costs", "timed_job"]


def stream_spans(records: Iterable[Mapping[str, Any]], *, wall0: float,
                 action: str = "compute") -> list[Span]:
    """Turn task-stream records (``get_task_stream(...).data`` or
    ``client.get_task_stream()``) into spans in ms since ``wall0`` (a ``time.time()``),
    keeping the ``action`` phases ("compute", "transfer", "deserialize"...): one ``Span``
    per task, on its worker's lane (``.worker``), named by the task's ``.key``."""
    wall0 = check_number("wall0", wall0, 0, 1e11)
    if not isinstance(action, str):
        raise TypeError(f"action must be a string such as 'compute', got {type(action).__name__}")
    spans = []
    for record in records:
        if not isinstance(record, Mapping) or "startstops" not in record:
            raise TypeError("records must be task-stream dicts with 'startstops' "
                            f"(from get_task_stream), got {record!r}")
        for phase in record["startstops"]:
            if phase.get("action") == action:
                spans.append(Span(str(record.get("worker", "?")), (phase["start"] - wall0) * 1e3,
                                  (phase["stop"] - wall0) * 1e3, "job", str(record.get("key", "?"))))
    return sorted(spans, key=lambda s: s.start_ms)


def add_stream_lanes(fig: Figure, spans: Iterable[Span], *, label: str = "Dask worker") -> Figure:
    """Add one lane per Dask worker to a ``Timeline.plot`` figure (same ms axis), each task's
    edges marked."""
    spans = list(spans)
    if not all(isinstance(s, Span) for s in spans):
        raise TypeError("spans must be a list of Span (as returned by stream_spans)")
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    return add_lanes(fig, spans, lane_label=label, edges=True,
                     legend_label=f"task running on a {label} (its task stream)")


@styled
def plot_costs(costs: Mapping[str, Mapping[str, float]], *, title: str | None = None,
               width: float = 9.0) -> Figure:
    """Grouped bars, log scale: ms per task for each workload (group) and executor (bar).
    An executor missing from a workload's mapping gets no bar there."""
    if not isinstance(costs, Mapping) or not costs:
        raise TypeError("costs must be a non-empty mapping of workload -> {executor: ms per task}")
    width = check_number("width", width, 3, 30)
    executors: list[str] = []
    for workload, row in costs.items():
        if not isinstance(row, Mapping) or not row:
            raise TypeError(f"costs[{workload!r}] must be a non-empty mapping of executor -> ms")
        for name, value in row.items():
            check_number(f"costs[{workload!r}][{name!r}]", value, 0, 1e7, lo_open=True)
            if name not in executors:
                executors.append(name)
    fig, ax = new_figure(width, 1.2 + 0.3 * len(costs) * len(executors),
                         title=title or "Cost per task, by executor")
    hbars(ax, list(costs), {name: [costs[w].get(name) for w in costs] for name in executors},
          {name: SERIES[k % len(SERIES)] for k, name in enumerate(executors)},
          fmt="{:.2f} ms", log=True)
    ax.set_xlabel("wall time per task (ms, log scale): lower is better")
    add_legend(fig, ax.get_legend_handles_labels()[0])
    return fig


def timed_job(ms: float, payload: Any = b"") -> JobTiming:
    """Receive ``payload``, burn ``ms`` of CPU and return its ``JobTiming``, naming the
    process and thread that ran it (importable by thread, process and Dask workers alike)."""
    del payload  # only received: its cost is the copy to the worker
    start = time.perf_counter_ns()
    cpu0 = time.thread_time_ns()
    burn(ms)
    cpu = time.thread_time_ns() - cpu0
    worker = f"{os.getpid()}/{threading.current_thread().name}"
    return JobTiming(worker, start, time.perf_counter_ns(), cpu)
