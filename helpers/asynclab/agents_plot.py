"""``StateLog``: what each agent was waiting for, and a timeline with one lane per agent.

The recorder sees running vs waiting per task; only the agent's own code knows *what*
it waits for (a tool, the rate limiter, a back-off, its own stream). Agents say so with
``with log.state("researcher 1", "tool"):``; ``plot_agent_states`` draws those spans
over the recorder's running steps, in the house colours plus one colour per new state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from time import perf_counter_ns
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .plotting import COLORS, LABELS, merge_spans, new_figure, span_patch
from .validate import check_choice, check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .timeline import Timeline

__all__ = ["AGENT_COLORS", "AGENT_LABELS", "STATES", "Span", "StateLog", "plot_agent_states"]

#: The states an agent reports, each with its own colour (Okabe-Ito yellow and four of
#: Paul Tol's colour-blind-safe colours; none is used for anything else).
STATES = ("tool", "model", "rate_limit", "backoff", "streaming")
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


class Span(NamedTuple):
    agent: str
    state: str
    start_ms: float
    end_ms: float


class StateLog:
    """Spans of agent states, in ms from when the log was made (make it as the first line
    inside ``record()`` so both share a time axis)."""

    def __init__(self) -> None:
        self._t0 = perf_counter_ns()
        self._spans: list[tuple[str, str, int, int]] = []
        self._marks: list[tuple[str, str, int]] = []  # agent, "cancelled" or "failed", when
        self._agents: dict[str, None] = {}

    @contextlib.contextmanager
    def state(self, agent: str, state: str) -> Iterator[None]:
        """Record that ``agent`` is in ``state`` while the block runs; a block left by
        cancellation also marks the agent cancelled (errors may be retried: an agent
        that gives up says so with ``mark(agent, "failed")``)."""
        if not isinstance(agent, str) or not agent:
            raise TypeError(f"agent must be a non-empty string, got {agent!r}")
        check_choice("state", state, STATES)
        self._agents.setdefault(agent, None)
        start = perf_counter_ns()
        try:
            yield
        except asyncio.CancelledError:
            self._marks.append((agent, "cancelled", perf_counter_ns()))
            raise
        finally:
            self._spans.append((agent, state, start, perf_counter_ns()))

    def mark(self, agent: str, outcome: str) -> None:
        """Mark ``agent`` as ``"cancelled"`` or ``"failed"`` now."""
        if not isinstance(agent, str) or not agent:
            raise TypeError(f"agent must be a non-empty string, got {agent!r}")
        check_choice("outcome", outcome, ("cancelled", "failed"))
        self._agents.setdefault(agent, None)
        self._marks.append((agent, outcome, perf_counter_ns()))

    @property
    def agents(self) -> list[str]:
        return list(self._agents)

    @property
    def spans(self) -> list[Span]:
        return [Span(a, s, (t0 - self._t0) / 1e6, (t1 - self._t0) / 1e6)
                for a, s, t0, t1 in self._spans]

    @property
    def marks(self) -> list[tuple[str, str, float]]:
        return [(a, k, (t - self._t0) / 1e6) for a, k, t in self._marks]

    def total_ms(self, state: str, agent: str | None = None) -> float:
        """Time spent in ``state`` (summed over spans, by one agent or all)."""
        check_choice("state", state, STATES)
        return sum(s.end_ms - s.start_ms for s in self.spans
                   if s.state == state and (agent is None or s.agent == agent))

    def plot(self, tl: Timeline | None = None, *, agents: list[str] | None = None,
             title: str | None = None, width: float = 9.0) -> Figure:
        return plot_agent_states(self, tl, agents=agents, title=title, width=width)


def plot_agent_states(log: StateLog, tl: Timeline | None = None, *, agents: list[str] | None = None,
                      title: str | None = None, width: float = 9.0) -> Figure:
    """One lane per agent: a thin "waiting" bar over its life, its reported states, and
    (with ``tl``, a recording whose task names are the agents' names) its running steps.
    ``agents`` orders the lanes (default: the log's agents, in order of first report);
    agents that reported nothing still get a lane from the recording."""
    if not isinstance(log, StateLog):
        raise TypeError(f"log must be a StateLog, got {type(log).__name__}")
    width = check_number("width", width, 3, 30)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    if agents is None:
        agents = log.agents
    else:
        if isinstance(agents, str) or not all(isinstance(a, str) for a in agents):
            raise TypeError("agents must be a list of agent names (strings)")
        agents = list(dict.fromkeys(list(agents) + log.agents))
    row = {a: i for i, a in enumerate(agents)}
    spans = log.spans
    marks = log.marks
    ends = [s.end_ms for s in spans] + [m[2] for m in marks] + ([tl.wall_ms] if tl is not None else [])
    x_max = max(ends + [1e-3])
    n_rows = max(1, len(agents))
    fig, ax = new_figure(width, min(12.0, 1.5 + 0.32 * n_rows))
    min_w = x_max / (width * fig.dpi)
    used: list[tuple[str, str, str]] = []  # (kind, color, label) for the legend

    def bars(x0, x1, rows, color, thickness):
        x0 = np.asarray(x0, dtype=float)
        if x0.size == 0:
            return False
        x1 = np.maximum(np.asarray(x1, dtype=float), x0 + min_w)
        x0, x1, rows = merge_spans(x0, x1, np.asarray(rows, dtype=float), min_w)
        ax.add_artist(span_patch(x0, x1, rows - thickness / 2, rows + thickness / 2, color))
        return True

    # Life of each agent: from its first to its last known moment.
    first = {a: np.inf for a in agents}
    last = {a: 0.0 for a in agents}
    for s in spans:
        first[s.agent] = min(first[s.agent], s.start_ms)
        last[s.agent] = max(last[s.agent], s.end_ms)
    if tl is not None:
        for t in tl.tasks:
            if t.name in row:
                first[t.name] = min(first[t.name], max(t.created_ms, 0.0))
                done = t.done_ms if not np.isnan(t.done_ms) else x_max
                last[t.name] = max(last[t.name], done)
    alive = [a for a in agents if last[a] >= first[a]]
    if bars([first[a] for a in alive], [last[a] for a in alive], [row[a] for a in alive],
            COLORS["waiting"], 0.25):
        used.append(("patch", COLORS["waiting"], "waiting (other)"))
    for state in STATES:
        mine = [s for s in spans if s.state == state]
        if bars([s.start_ms for s in mine], [s.end_ms for s in mine], [row[s.agent] for s in mine],
                AGENT_COLORS[state], 0.6):
            used.append(("patch", AGENT_COLORS[state], AGENT_LABELS[state]))
    if tl is not None and len(tl.step_start):
        lanes = np.array([row.get(name, -1) for name in tl.task_names])[tl.step_lane]
        keep = lanes >= 0
        if bars(tl.step_start[keep], tl.step_end[keep], lanes[keep], COLORS["running"], 0.8):
            used.append(("patch", COLORS["running"], LABELS["running"]))
    for kind, marker in (("failed", "X"), ("cancelled", "o")):
        mine = [(row[a], t) for a, k, t in marks if k == kind]
        if mine:
            ax.scatter([t for _, t in mine], [r for r, _ in mine], marker=marker, s=40, zorder=3,
                       facecolor=COLORS[kind] if kind == "failed" else "none",
                       edgecolor=COLORS[kind], linewidth=1.3)
            used.append((marker, COLORS[kind], LABELS[kind]))

    ax.set_xlim(0, x_max * 1.01)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_yticks(range(len(agents)), agents, fontsize=9)
    ax.set_xlabel("time since the run started (ms)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(title or "What each agent was doing", loc="left", fontsize=11)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = []
    for kind, color, label in used:
        if kind == "patch":
            handles.append(Patch(color=color, label=label))
        else:
            handles.append(Line2D([], [], marker=kind, ls="", color=color, label=label,
                                  mfc=color if kind == "X" else "none"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)),
                   fontsize=8, frameon=False)
    return fig
