"""``Panel``: controls that re-run an experiment and redraw its figure.

The experiment is a plain function of the control values. It returns a matplotlib Figure,
``(figure, text)``, or ``(figure, text, metrics)``, where ``text`` is a line shown under
the controls and ``metrics`` a mapping of what the run measured. It runs once when the
panel is made, so a saved notebook shows a figure before anyone runs it, and again
whenever a control changes. A notebook's check reads the last run's ``panel.metrics``
(and ``panel.figure``, ``panel.text``); tests drive it without a browser through
``Panel.run(**values)``.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import ipywidgets as W
from IPython.display import display

from .validate import check_callable

__all__ = ["Panel"]

SHAPES = "a matplotlib Figure, (figure, text) or (figure, text, metrics) with metrics a mapping"
_NO_METRICS: Mapping[str, Any] = MappingProxyType({})


class Panel(W.VBox):
    """A widget panel: ``Panel(experiment, tasks=IntSlider(...), mode=Dropdown(...))``.

    ``experiment(**values)`` returns a Figure, ``(figure, text)`` or ``(figure, text,
    metrics)``; anything else is a ``TypeError`` naming the experiment, shown in the
    panel's status line. After each run the panel holds what it gave:

    - ``panel.figure``: the Figure drawn;
    - ``panel.text``: the line shown under the controls (``""`` if none);
    - ``panel.metrics``: the run's measurements, read-only (empty if none were returned);
    - ``panel.last_result``: the experiment's return value, as it was.

    A check cell after the panel reads ``m = panel.metrics`` and asserts on it. The panel
    runs once when made; a run that raises leaves these as the last good run left them
    (and says why in the status line). ``panel.run(**values)`` sets controls, re-runs and
    returns the experiment's raw result.
    """

    def __init__(self, experiment: Callable[..., Any], *, title: str = "", **controls: W.ValueWidget):
        check_callable("experiment", experiment)
        if not controls:
            raise ValueError("controls must name at least one widget, e.g. tasks=IntSlider(...)")
        for name, control in controls.items():
            if not isinstance(control, W.ValueWidget):
                raise TypeError(f"control {name!r} must be an ipywidgets value widget, got {type(control).__name__}")
            if hasattr(control, "continuous_update"):
                control.continuous_update = False  # re-run when the slider is released
            if not control.description:
                control.description = name.replace("_", " ")
            control.style = {"description_width": "initial"}
        self.experiment = experiment
        self.controls = controls
        self.output = W.Output()
        self.status = W.HTML()
        header = [W.HTML(f"<b>{title}</b>")] if title else []
        super().__init__(header + [W.HBox(list(controls.values()), layout=W.Layout(flex_flow="row wrap")),
                                   self.status, self.output])
        for control in controls.values():
            control.observe(self._changed, names="value")
        self._result: Any = None
        self._figure: Any = None
        self._text: str | None = None
        self._metrics: Mapping[str, Any] = _NO_METRICS
        self.run()

    @property
    def figure(self) -> Any:
        """The matplotlib Figure of the last run that succeeded."""
        return self._figure

    @property
    def text(self) -> str | None:
        """The line of text of the last run that succeeded (``""`` if it gave none)."""
        return self._text

    @property
    def metrics(self) -> Mapping[str, Any]:
        """What the last run that succeeded measured: a read-only mapping, empty if none."""
        return self._metrics

    @property
    def last_result(self) -> Any:
        """The experiment's return value from the last run that succeeded, as it was."""
        return self._result

    def values(self) -> dict[str, Any]:
        return {name: c.value for name, c in self.controls.items()}

    def run(self, **overrides: Any) -> Any:
        """Set any controls given, re-run the experiment and redraw; returns its raw result."""
        unknown = set(overrides) - set(self.controls)
        if unknown:
            raise ValueError(f"unknown control(s) {sorted(unknown)}; this panel has {sorted(self.controls)}")
        if overrides:
            with self.hold_trait_notifications():
                for control in self.controls.values():
                    control.unobserve(self._changed, names="value")
                try:
                    for name, value in overrides.items():
                        self.controls[name].value = value
                finally:
                    for control in self.controls.values():
                        control.observe(self._changed, names="value")
        return self._render()

    def _changed(self, _change: dict) -> None:
        try:
            self._render()
        except Exception:  # already shown in the status line; a callback has no caller
            pass

    def _render(self) -> Any:
        start = time.perf_counter()
        self.status.value = "<i>running...</i>"
        try:
            result = self.experiment(**self.values())
            figure, text, metrics = self._unpack(result)
        except Exception as exc:  # shown to the learner as a sentence, not a traceback
            message = html.escape(f"{type(exc).__name__}: {exc}")
            self.status.value = f"<span style='color:#D55E00'>{message}</span>"
            raise
        self.output.clear_output(wait=True)
        with self.output:
            display(figure)
        took = time.perf_counter() - start
        self.status.value = f"{text} <span style='color:#7F7F7F'>(ran in {took:.2f} s)</span>"
        self._result, self._figure, self._text = result, figure, text
        self._metrics = MappingProxyType(dict(metrics)) if metrics else _NO_METRICS
        return result

    def _unpack(self, result: Any) -> tuple[Any, str, Mapping[str, Any]]:
        """``(figure, text, metrics)`` from any of the three shapes; TypeError otherwise."""
        from matplotlib.figure import Figure  # imported by every experiment already

        name = getattr(self.experiment, "__qualname__", None) or repr(self.experiment)

        def wrong(what: str) -> TypeError:
            return TypeError(f"experiment {name} returned {what}; it must return {SHAPES}")

        if isinstance(result, Figure):
            return result, "", _NO_METRICS
        if not isinstance(result, tuple):
            raise wrong(f"a {type(result).__name__}")
        if len(result) not in (2, 3):
            raise wrong(f"a tuple of {len(result)} items")
        figure, text, *rest = result
        if not isinstance(figure, Figure):
            raise wrong(f"a tuple whose first item is a {type(figure).__name__}, not a Figure")
        if not isinstance(text, str):
            raise wrong(f"a tuple whose text (second item) is a {type(text).__name__}, not a str")
        metrics = rest[0] if rest else _NO_METRICS
        if not isinstance(metrics, Mapping):
            raise wrong(f"a tuple whose metrics (third item) are a {type(metrics).__name__}, "
                        "not a mapping")
        return figure, text, metrics
