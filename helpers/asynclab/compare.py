"""``plot_modes()``: one figure comparing ways of running the same work.

Two panels side by side, one bar per mode: the wall time against the ideal, and the
largest loop lag a ``heartbeat()`` saw. A mode that blocked the loop (lag of at least
``blocked_ms``) is drawn in the "loop blocked" colour, the others in "task running".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .palette import COLORS, LABELS
from .plotting import add_legend, hbars, key_handle, new_figure, styled
from .validate import check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_modes"]


def _check_values(name: str, values: object) -> dict[str, float]:
    if not isinstance(values, Mapping) or not values:
        raise TypeError(f"{name} must be a non-empty mapping of mode name to ms, got {values!r}")
    out = {}
    for mode, value in values.items():
        if not isinstance(mode, str) or not mode:
            raise TypeError(f"{name} keys must be non-empty strings, got {mode!r}")
        out[mode] = check_number(f"{name}[{mode!r}]", value, 0, 1e7)
    return out


@styled
def plot_modes(
    wall_ms: Mapping[str, float],
    lag_ms: Mapping[str, float],
    *,
    ideal_ms: float,
    blocked_ms: float = 10.0,
    title: str | None = None,
) -> Figure:
    """Bars per mode: wall time (with the ideal as a grey line) and max loop lag, in ms.

    ``wall_ms`` and ``lag_ms`` map the same mode names to measurements; the bars keep
    their order.
    """
    from matplotlib.lines import Line2D

    wall = _check_values("wall_ms", wall_ms)
    lag = _check_values("lag_ms", lag_ms)
    if list(wall) != list(lag):
        raise ValueError(f"wall_ms and lag_ms must name the same modes in the same order, "
                         f"got {list(wall)} and {list(lag)}")
    ideal_ms = check_number("ideal_ms", ideal_ms, 0, 1e7, lo_open=True)
    blocked_ms = check_number("blocked_ms", blocked_ms, 0, 1e7, lo_open=True)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")

    modes = list(wall)
    fig, (ax_wall, ax_lag) = new_figure(9.0, 1.6 + 0.45 * len(modes), ncols=2,
                                        suptitle=title or "Wall time and loop lag per mode")
    colors = [COLORS["blocked"] if lag[m] >= blocked_ms else COLORS["running"] for m in modes]
    for ax, values, label, ref in ((ax_wall, wall, "wall time (ms)", max(ideal_ms, 1.0)),
                                   (ax_lag, lag, "max loop lag (ms)", 1.0)):
        hbars(ax, modes, {label: [values[m] for m in modes]}, {label: colors}, fmt="{:.0f}",
              x_ref=ref)
        ax.set_xlabel(label)
    ax_lag.set_yticks(range(len(modes)), [""] * len(modes))
    ax_wall.axvline(ideal_ms, color=COLORS["ideal"], linestyle="--", linewidth=1.5)
    add_legend(fig, [
        key_handle("blocked", f"{LABELS['blocked']}: lag >= {blocked_ms:g} ms"),
        key_handle("running", "loop kept free"),
        Line2D([], [], color=COLORS["ideal"], linestyle="--", label=LABELS["ideal"]),
    ])
    return fig
