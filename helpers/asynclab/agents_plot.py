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
from typing import TYPE_CHECKING

import numpy as np

from .palette import AGENT_COLORS, AGENT_LABELS, MARKERS
from .plotting import add_legend, draw_markers, draw_spans, key_handle, lane_figure, styled
from .records import Span
from .validate import check_choice, check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .timeline import Timeline

__all__ = ["AGENT_COLORS", "AGENT_LABELS", "STATES", "Span", "StateLog", "plot_agent_states"]

#: The states an agent reports, each with its own colour in ``asynclab.palette``.
STATES = tuple(AGENT_COLORS)


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

    def now_ms(self) -> float:
        """Now, in ms on the log's time axis (to place a moment such as a deadline)."""
        return (perf_counter_ns() - self._t0) / 1e6

    @property
    def agents(self) -> list[str]:
        return list(self._agents)

    @property
    def spans(self) -> list[Span]:
        return [Span(a, (t0 - self._t0) / 1e6, (t1 - self._t0) / 1e6, s)
                for a, s, t0, t1 in self._spans]

    @property
    def marks(self) -> list[tuple[str, str, float]]:
        return [(a, k, (t - self._t0) / 1e6) for a, k, t in self._marks]

    def marked(self, outcome: str) -> list[str]:
        """The agents marked ``"cancelled"`` or ``"failed"``, in the order of their first mark."""
        check_choice("outcome", outcome, ("cancelled", "failed"))
        return list(dict.fromkeys(a for a, k, _ in self._marks if k == outcome))

    def total_ms(self, state: str, agent: str | None = None) -> float:
        """Time spent in ``state`` (summed over spans, by one agent or all)."""
        check_choice("state", state, STATES)
        return sum(s.end_ms - s.start_ms for s in self.spans
                   if s.state == state and (agent is None or s.agent == agent))

    def plot(self, tl: Timeline | None = None, *, agents: list[str] | None = None,
             title: str | None = None, width: float = 9.0) -> Figure:
        return plot_agent_states(self, tl, agents=agents, title=title, width=width)


@styled
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
    fig, ax = lane_figure(agents, x_max, width=width, title=title or "What each agent was doing",
                          xlabel="time since the run started (ms)")

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
    handles = [key_handle(k, "waiting (other)") for k in draw_spans(
        ax, [row[a] for a in alive], [first[a] for a in alive], [last[a] for a in alive],
        "waiting", height=0.25)]
    if spans:  # one artist per state; edges keep back-to-back waits (two tool calls) apart
        handles += [key_handle(k) for k in draw_spans(
            ax, [row[s.agent] for s in spans], [s.start_ms for s in spans],
            [s.end_ms for s in spans], [s.state for s in spans], height=0.6, edges=True)]
    if tl is not None and len(tl.step_start):
        lanes = np.array([row.get(name, -1) for name in tl.task_names])[tl.step_lane]
        keep = lanes >= 0
        handles += [key_handle(k) for k in draw_spans(
            ax, lanes[keep], tl.step_start[keep], tl.step_end[keep], "running", height=0.8)]
    for kind in MARKERS:
        mine = [(row[a], t) for a, k, t in marks if k == kind]
        if draw_markers(ax, [r for r, _ in mine], [t for _, t in mine], kind):
            handles.append(key_handle(kind))
    add_legend(fig, handles)
    return fig
