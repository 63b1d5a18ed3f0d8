"""``Panel``: controls that re-run an experiment and redraw its figure.

The experiment is a plain function of the control values that returns a matplotlib
Figure (and optionally a line of text). It runs once when the panel is made, so a saved
notebook shows a figure before anyone runs it, and again whenever a control changes.
Tests drive it without a browser through ``Panel.run(**values)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ipywidgets as W
from IPython.display import display

from .validate import check_callable

__all__ = ["Panel"]


class Panel(W.VBox):
    """A widget panel: ``Panel(experiment, tasks=IntSlider(...), mode=Dropdown(...))``."""

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
        self.last_result: Any = None
        self.run()

    def values(self) -> dict[str, Any]:
        return {name: c.value for name, c in self.controls.items()}

    def run(self, **overrides: Any) -> Any:
        """Set any controls given, re-run the experiment and redraw; returns its result."""
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
        except Exception as exc:  # shown to the learner as a sentence, not a traceback
            self.status.value = f"<span style='color:#D55E00'>{type(exc).__name__}: {exc}</span>"
            raise
        figure, text = (result if isinstance(result, tuple) else (result, ""))
        self.output.clear_output(wait=True)
        with self.output:
            display(figure)
        took = time.perf_counter() - start
        self.status.value = f"{text} <span style='color:#7F7F7F'>(ran in {took:.2f} s)</span>"
        self.last_result = result
        return result
