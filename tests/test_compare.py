import matplotlib

matplotlib.use("Agg")

import pytest
from asynclab.compare import plot_modes
from asynclab.plotting import COLORS
from matplotlib.colors import to_hex


def bar_colors(ax):
    return [to_hex(p.get_facecolor()) for p in ax.patches]


def test_one_bar_per_mode_in_each_panel_coloured_by_loop_lag():
    fig = plot_modes({"blocking": 500.0, "to_thread": 110.0}, {"blocking": 480.0, "to_thread": 3.0},
                     ideal_ms=100, title="only blocking stalls the loop")
    wall, lag = fig.axes[:2]
    assert [t.get_text() for t in wall.get_yticklabels()] == ["blocking", "to_thread"]
    for ax in (wall, lag):
        assert bar_colors(ax) == [COLORS["blocked"].lower(), COLORS["running"].lower()]
    assert [p.get_width() for p in lag.patches] == [480.0, 3.0]
    assert any(line.get_xdata()[0] == 100 for line in wall.get_lines())  # the ideal
    assert fig._suptitle.get_text() == "only blocking stalls the loop"
    fig.canvas.draw()


def test_blocked_threshold_is_a_parameter():
    fig = plot_modes({"a": 10}, {"a": 20}, ideal_ms=10, blocked_ms=50)
    assert bar_colors(fig.axes[0]) == [COLORS["running"].lower()]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"wall_ms": {}, "lag_ms": {}, "ideal_ms": 1}, TypeError, "wall_ms"),
        ({"wall_ms": {"a": 1}, "lag_ms": {"b": 1}, "ideal_ms": 1}, ValueError, "same modes"),
        ({"wall_ms": {"a": -1}, "lag_ms": {"a": 1}, "ideal_ms": 1}, ValueError, "wall_ms"),
        ({"wall_ms": {"a": 1}, "lag_ms": {"a": "x"}, "ideal_ms": 1}, TypeError, "lag_ms"),
        ({"wall_ms": {"a": 1}, "lag_ms": {"a": 1}, "ideal_ms": 0}, ValueError, "ideal_ms"),
        ({"wall_ms": {"a": 1}, "lag_ms": {"a": 1}, "ideal_ms": 1, "title": 3}, TypeError, "title"),
    ],
)
def test_bad_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_modes(**kwargs)
