"""Moments on a timeline figure: a dashed line across the lanes at one instant, in the
legend, in the palette colour of what happened then (a deadline fired and cancelled
work: "cancelled"; an exception reached the caller: "failed"; any other measured moment:
the first measured-series colour).

Times are ms on the figure's axis: from the start of the ``record()`` block. Measure a
moment with ``perf_counter()`` against a zero read *inside* the block, so it is on the
same clock as the recording (a zero read before the block would push it to the right).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .palette import COLORS, SERIES
from .plotting import add_legend, style
from .validate import check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MOMENT_KEYS", "mark_moment"]

#: What a moment's colour may mean: palette keys, plus "measured" (a measured instant).
MOMENT_KEYS = {"failed": COLORS["failed"], "cancelled": COLORS["cancelled"],
               "measured": SERIES[0]}


def mark_moment(fig: Figure, at_ms: float, key: str, label: str) -> Figure:
    """Draw a dashed vertical line at ``at_ms`` on the figure's first axes, labelled
    ``label`` in the legend, coloured by ``key`` (one of ``MOMENT_KEYS``). The x axis is
    widened if the moment lies beyond it, so the line is always inside the axes."""
    from matplotlib.lines import Line2D

    if key not in MOMENT_KEYS:
        raise ValueError(f"key must be one of {', '.join(MOMENT_KEYS)}, got {key!r}")
    if not isinstance(label, str) or not label:
        raise TypeError("label must be a non-empty string")
    at_ms = check_number("at_ms", at_ms, 0, 1e9)
    if not fig.axes:
        raise ValueError("the figure has no axes to mark")
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    if at_ms > lo + 0.97 * (hi - lo):  # keep it off the axis's edge, where it would hide
        hi = lo + (at_ms - lo) / 0.96
    ax.set_xlim(min(lo, at_ms), hi)
    color = MOMENT_KEYS[key]
    with style():
        ax.axvline(at_ms, color=color, ls="--", lw=1.2, zorder=4)
        add_legend(fig, [Line2D([], [], color=color, ls="--", lw=1.2, label=label)])
    return fig
