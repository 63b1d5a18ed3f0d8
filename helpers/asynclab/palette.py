"""Every colour the figures use, each with one meaning, in every notebook.

Three families, no colour in two of them (a test checks it):

- ``COLORS``: the house colours of time spent (Okabe-Ito, plus grey for an ideal).
- ``AGENT_COLORS``: what an agent reports it is waiting for (Okabe-Ito yellow and four
  of Paul Tol's "muted" colours).
- ``SERIES``: measured series that are not a kind of time spent (a measured speedup, one
  executor among several, one curve among several): the rest of Paul Tol's "muted" set.

Both schemes are designed to stay distinct for colour-blind readers. Markers (``MARKERS``)
stand for moments, not spans: a task that failed or was cancelled.
"""

from __future__ import annotations

__all__ = ["AGENT_COLORS", "AGENT_LABELS", "COLORS", "LABELS", "MARKERS", "SERIES", "SPAN_COLORS"]

#: The house colours: one meaning each.
COLORS = {
    "running": "#0072B2",  # task running on the loop
    "waiting": "#56B4E9",  # task alive but waiting (suspended at an await, or queued)
    "queued": "#E69F00",  # pool job submitted, waiting for a free worker
    "job": "#009E73",  # pool job running in a worker (thread, process, cluster worker)
    "blocked": "#D55E00",  # a step so long it blocked the loop
    "failed": "#CC79A7",  # a task that ended with an exception
    "cancelled": "#000000",  # a task that was cancelled
    "ideal": "#7F7F7F",  # a theoretical ideal or limit, drawn for comparison
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

#: What an agent waits for (``asynclab.agents_plot.StateLog`` states).
AGENT_COLORS = {
    "tool": "#F0E442",
    "model": "#117733",
    "rate_limit": "#882255",
    "backoff": "#999933",
    "streaming": "#332288",
}
AGENT_LABELS = {
    "tool": "waiting on a tool",
    "model": "waiting for the model",
    "rate_limit": "waiting on the rate limiter",
    "backoff": "backing off before a retry",
    "streaming": "streaming tokens",
}

#: Colours for the series of a chart, in order (the first for a single measured series).
SERIES = ("#44AA99", "#AA4499", "#DDCC77", "#CC6677", "#88CCEE")

#: Every colour key a span may have on a timeline lane.
SPAN_COLORS = {**COLORS, **AGENT_COLORS}

#: Keys drawn as a marker at a moment rather than as a span: (marker, filled).
MARKERS = {"failed": ("X", True), "cancelled": ("o", False)}
