"""asynclab.moments: a dashed moment line inside the axes, in the legend, one colour each."""

import pytest
from asynclab.moments import MOMENT_KEYS, mark_moment
from asynclab.palette import COLORS
from asynclab.plotting import lane_figure
from matplotlib.colors import to_hex


def figure():
    fig, _ = lane_figure(["a", "b"], 100.0, title="t")
    return fig


def test_the_line_is_inside_the_axes_in_the_legend_and_in_its_colour():
    fig = mark_moment(figure(), 40.0, "failed", "gather raised")
    ax = fig.axes[0]
    line = ax.lines[-1]
    assert line.get_xdata()[0] == 40.0 and line.get_linestyle() == "--"
    assert to_hex(line.get_color()) == COLORS["failed"].lower()
    lo, hi = ax.get_xlim()
    assert lo <= 40.0 <= hi
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["gather raised"]


def test_a_moment_beyond_the_axis_widens_it_and_two_moments_share_one_legend():
    fig = mark_moment(figure(), 250.0, "cancelled", "deadline")
    assert fig.axes[0].get_xlim()[1] >= 250.0
    mark_moment(fig, 10.0, "measured", "results back")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["deadline", "results back"]
    assert len(set(MOMENT_KEYS.values())) == len(MOMENT_KEYS)


@pytest.mark.parametrize("args, error", [
    ((10.0, "ideal", "x"), ValueError),
    ((10.0, "failed", ""), TypeError),
    ((-1.0, "failed", "x"), ValueError),
])
def test_mark_moment_checks_its_arguments(args, error):
    with pytest.raises(error):
        mark_moment(figure(), *args)
