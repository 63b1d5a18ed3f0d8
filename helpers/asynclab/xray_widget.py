"""``asynclab.xray(tl)``: step through a recording and see why each task ran next.

A slider and a play button move over the recorded steps (in the order the loop ran them).
The timeline is drawn once; each move only restores its pixels, draws the cursor line at
the step and encodes the image again (matplotlib blitting, a few ms). Beside it: the task
running, the ready queue as a row of boxes in first-in, first-out order, the timers by
wake-up time and each thread pool's running and queued jobs, for that step, from a
``record(xray=True)`` timeline. The first frame is drawn when the widget is made, so a
saved notebook (and its static HTML copy) shows it without a kernel.
"""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as W
import numpy as np

from .loopstate import XRay
from .palette import COLORS
from .plotting import fit_unit
from .timeline import Timeline
from .validate import check_number

__all__ = ["XRayView", "xray"]

BOX = ("display:inline-block;margin:2px;padding:2px 6px;border-radius:4px;"
       "font-family:monospace;font-size:12px;")


def _box(text: str, color: str, fg: str = "white") -> str:
    return f"<span style='{BOX}background:{color};color:{fg}'>{html.escape(text)}</span>"


def describe(x: XRay) -> str:
    """One step's x-ray as HTML: running task, ready queue, timers, pools."""
    task, callback, grey = COLORS["running"], "#BBBBBB", "#7F7F7F"
    rows = [f"<b>step {x.step}</b> at {x.at_ms:.3f} ms: running {_box(x.running, task)}"]
    queue = "".join(_box(e.name, task if e.task else callback, "white" if e.task else "black")
                    for e in x.queue) or "<i>empty</i>"
    more = x.queue_len - len(x.queue)
    if more > 0:
        queue += f" <span style='color:{grey}'>+{more} more</span>"
    rows.append(f"<b>ready queue</b> (runs left to right, first in first out):<br>{queue}")
    sleepers = "".join(
        f"<br>{_box(s.name, task if s.task else callback, 'white' if s.task else 'black')}"
        f" wakes at {s.wake_ms:.3f} ms (in {s.wake_ms - x.at_ms:.3f} ms)" for s in x.sleepers)
    more = x.sleepers_len - len(x.sleepers)
    if more > 0:
        sleepers += f"<br><span style='color:{grey}'>+{more} more timers</span>"
    rows.append(f"<b>sleeping</b> (timers, earliest first):{sleepers or ' <i>none</i>'}")
    for p in x.pools:
        boxes = _box("job", COLORS["job"]) * p.running + _box("job", COLORS["queued"]) * p.queued
        rows.append(f"<b>pool {html.escape(p.pool)}</b>: {p.running} running, {p.queued} "
                    f"queued<br>{boxes}")
    return "<div style='line-height:1.6'>" + "<br>".join(rows) + "</div>"


class XRayView(W.VBox):
    """The x-ray widget (made by ``asynclab.xray``); ``show(i)`` moves it to step ``i``."""

    def __init__(self, tl: Timeline, *, title: str | None = None, width: float = 7.5,
                 interval_ms: int = 400):
        if not isinstance(tl, Timeline):
            raise TypeError(f"tl must be a Timeline (from asynclab.record), got {type(tl).__name__}")
        if not tl.has_xray:
            raise ValueError("tl has no x-ray data: record it with asynclab.record(xray=True)")
        n = len(tl.step_start)
        if n == 0:
            raise ValueError("tl recorded no steps: there is nothing to step through")
        width = check_number("width", width, 3, 30)
        interval_ms = int(check_number("interval_ms", interval_ms, 20, 10_000))
        self.timeline = tl
        self._figure(title, width)
        self.play = W.Play(value=0, min=0, max=n - 1, interval=interval_ms, description="play")
        self.slider = W.IntSlider(value=0, min=0, max=n - 1, description="step",
                                  continuous_update=False)
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.picture = W.Output()
        self.state = W.HTML(layout=W.Layout(min_width="300px", max_width="420px"))
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        super().__init__([W.HBox([self.play, self.slider]),
                          W.HBox([self.picture, self.state], layout=W.Layout(flex_flow="row wrap"))])
        self.show(0)

    def _figure(self, title: str | None, width: float) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        tl = self.timeline
        fig = tl.plot(title=title or "Step through the loop", width=width)
        ax = fig.axes[0]
        # Zoom to the recorded steps: they are what the slider moves over.
        first, last = float(tl.step_start.min()), float(tl.step_end.max())
        pad = max(0.04 * (last - first), 1e-3)
        ax.set_xlim(max(0.0, first - pad), last + pad)
        fit_unit(ax)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        fig.set_layout_engine("none")  # keep the layout fixed: only the cursor moves
        self._canvas, self._fig = canvas, fig
        self._background = canvas.copy_from_bbox(fig.bbox)
        self._cursor = ax.axvline(0.0, color="#D55E00", linewidth=1.5, animated=True)

    def frame(self, i: int) -> bytes:
        """The timeline as a PNG with the cursor at step ``i`` (drawn by blitting)."""
        from PIL import Image as PILImage

        x = float(self.timeline.step_start[i])
        canvas = self._canvas
        canvas.restore_region(self._background)
        self._cursor.set_xdata([x, x])
        self._cursor.axes.draw_artist(self._cursor)
        buf = io.BytesIO()
        PILImage.fromarray(np.asarray(canvas.buffer_rgba())).save(buf, "PNG", compress_level=1)
        return buf.getvalue()

    def show(self, i: int) -> XRay:
        """Move to step ``i``: the cursor, the queue and the timers; returns its ``XRay``."""
        x = self.timeline.xray_at(i)
        if self.slider.value != i:
            self.slider.value = i  # observed: comes back here once with the same i
            return x
        self.state.value = describe(x)
        # One display output, set directly: no flicker, and no kernel needed (tests, export).
        png = base64.b64encode(self.frame(i)).decode("ascii")
        self.picture.outputs = ({"output_type": "display_data", "metadata": {},
                                 "data": {"image/png": png,
                                          "text/plain": f"<the timeline, cursor at step {i}>"}},)
        self.last = x
        return x


def xray(tl: Timeline, *, title: str | None = None, width: float = 7.5,
         interval_ms: int = 400) -> XRayView:
    """Step through ``tl`` (recorded with ``record(xray=True)``): a slider and a play button
    over its steps, the timeline with a cursor, and beside it the running task, the ready
    queue in order, the sleepers by wake-up time and the pools' queues."""
    return XRayView(tl, title=title, width=width, interval_ms=interval_ms)
