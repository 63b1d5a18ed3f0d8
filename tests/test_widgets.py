"""``asynclab.Panel``: what an experiment may return, and what the panel keeps of its last run."""

from __future__ import annotations

from types import MappingProxyType

import ipywidgets as W
import pytest
from asynclab.widgets import Panel
from matplotlib.figure import Figure

SHAPES = "a matplotlib Figure, (figure, text) or (figure, text, metrics)"


def slider():
    return W.IntSlider(value=1, min=1, max=5)


def test_a_figure_alone():
    fig = Figure()

    def only_a_figure(n):
        return fig

    panel = Panel(only_a_figure, n=slider())
    assert panel.figure is fig and panel.last_result is fig
    assert panel.text == ""
    assert panel.metrics == {} and isinstance(panel.metrics, MappingProxyType)


def test_a_figure_and_text():
    fig = Figure()

    def figure_and_text(n):
        return fig, f"n = {n}"

    panel = Panel(figure_and_text, n=slider())
    assert (panel.figure, panel.text) == (fig, "n = 1")
    assert panel.metrics == {} and isinstance(panel.metrics, MappingProxyType)
    assert panel.last_result == (fig, "n = 1")
    assert "n = 1" in panel.status.value


def test_a_figure_text_and_metrics():
    figs = {}

    def with_metrics(n):
        figs[n] = Figure()
        return figs[n], f"n = {n}", {"wall_ms": 10.0 * n, "n": n}

    panel = Panel(with_metrics, n=slider())
    assert panel.figure is figs[1] and panel.text == "n = 1"
    assert panel.metrics == {"wall_ms": 10.0, "n": 1}
    panel.controls["n"].value = 3  # as a learner moving the slider
    assert panel.figure is figs[3] and panel.text == "n = 3"
    assert panel.metrics == {"wall_ms": 30.0, "n": 3}


def test_metrics_are_read_only_and_a_snapshot():
    measured = {"wall_ms": 5.0}

    def with_metrics(n):
        return Figure(), "", measured

    panel = Panel(with_metrics, n=slider())
    assert isinstance(panel.metrics, MappingProxyType)
    with pytest.raises(TypeError):
        panel.metrics["wall_ms"] = 0.0
    measured["wall_ms"] = 99.0  # the experiment's own dict changing later changes nothing
    assert panel.metrics["wall_ms"] == 5.0
    with pytest.raises(AttributeError):
        panel.metrics = {}
    with pytest.raises(AttributeError):
        panel.figure = None


@pytest.mark.parametrize("result, detail", [
    (None, "a NoneType"),
    ("a line of text", "a str"),
    ([Figure(), "text"], "a list"),
    ((Figure(),), "a tuple of 1 items"),
    ((Figure(), "text", {}, "more"), "a tuple of 4 items"),
    (("text", Figure()), "first item is a str, not a Figure"),
    ((Figure(), 42), "text (second item) is a int, not a str"),
    ((Figure(), "text", [("wall_ms", 1.0)]), "metrics (third item) are a list, not a mapping"),
], ids=["None", "str", "list", "1-tuple", "4-tuple", "swapped", "text not str", "metrics list"])
def test_any_other_shape_is_a_type_error_naming_the_experiment_and_the_shapes(result, detail):
    def my_experiment(n):
        return result

    with pytest.raises(TypeError) as info:
        Panel(my_experiment, n=slider())
    message = str(info.value)
    assert "my_experiment" in message and SHAPES in message and detail in message, message


def test_a_failing_run_keeps_the_last_good_run_and_shows_the_error():
    good_fig = Figure()

    def flaky(n):
        if n == 2:
            return Figure(), "wrong shape", "not a mapping"
        if n == 3:
            raise RuntimeError("the tool server is down")
        return good_fig, "good", {"wall_ms": 1.0}

    panel = Panel(flaky, n=slider())
    good = panel.last_result
    for n, error in [(2, "TypeError: experiment"), (3, "RuntimeError: the tool server is down")]:
        with pytest.raises(Exception, match=error.split(": ", 1)[1]):
            panel.run(n=n)
        assert error in panel.status.value, panel.status.value
        assert panel.last_result is good and panel.figure is good_fig and panel.text == "good"
        assert panel.metrics == {"wall_ms": 1.0}
    panel.controls["n"].value = 2  # a slider moved to a failing value: no exception escapes
    assert "TypeError" in panel.status.value and panel.metrics == {"wall_ms": 1.0}


def test_the_error_in_the_status_line_is_escaped_html():
    def raises_with_markup(n):
        if n == 2:
            raise ValueError("<b>bold</b>")
        return Figure()

    panel = Panel(raises_with_markup, n=slider())
    with pytest.raises(ValueError):
        panel.run(n=2)
    assert "&lt;b&gt;bold&lt;/b&gt;" in panel.status.value, panel.status.value


def test_run_returns_the_raw_result_and_sets_the_controls():
    results = {}

    def raw(n, mode):
        results[n, mode] = (Figure(), f"{mode} {n}", {"n": n})
        return results[n, mode]

    panel = Panel(raw, n=slider(), mode=W.Dropdown(options=["a", "b"], value="a"))
    assert panel.run(n=4, mode="b") is results[4, "b"]
    assert panel.values() == {"n": 4, "mode": "b"}
    assert panel.last_result is results[4, "b"] and panel.metrics == {"n": 4}
    first = results[4, "b"]
    again = panel.run()  # the same values, run again: a new result, returned as it was
    assert again is results[4, "b"] and again is not first and panel.last_result is again
