"""``heartbeat()``: a loop-lag meter. A task asks to wake every ``interval`` seconds and
notes how late it actually woke; a blocked loop shows as a large lag."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from time import perf_counter_ns

import numpy as np

from .validate import check_number

__all__ = ["Heartbeat", "heartbeat"]


class Heartbeat:
    """Lags measured by a running ``heartbeat()``: one sample per tick, in ms."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lags_ns: list[int] = []
        self._ticks_ns: list[int] = []
        self._asked = 0  # when the pending tick asked to sleep

    def _close(self) -> None:
        # A tick still pending when the block ends may be overdue because the loop was
        # blocked just before; its lag so far is real, so it counts as a sample.
        now = perf_counter_ns()
        late = now - self._asked - int(self.interval * 1e9)
        if self._asked and late > 0:
            self._ticks_ns.append(now)
            self._lags_ns.append(late)

    @property
    def lags_ms(self) -> np.ndarray:
        return np.array(self._lags_ns, dtype=float) / 1e6

    @property
    def times_ms(self) -> np.ndarray:
        """When each tick woke, in ms from the first tick's request."""
        t = np.array(self._ticks_ns, dtype=float)
        return (t - t[0]) / 1e6 if len(t) else t

    @property
    def max_lag_ms(self) -> float:
        return float(self.lags_ms.max()) if self._lags_ns else 0.0

    async def _beat(self) -> None:
        step = int(self.interval * 1e9)
        while True:
            self._asked = asked = perf_counter_ns()
            await asyncio.sleep(self.interval)
            woke = perf_counter_ns()
            self._ticks_ns.append(woke)
            self._lags_ns.append(max(0, woke - asked - step))
            self._asked = 0


@contextlib.asynccontextmanager
async def heartbeat(interval: float = 0.01) -> AsyncIterator[Heartbeat]:
    """Measure loop lag while the block runs::

        async with asynclab.heartbeat(0.01) as hb:
            await work()
        hb.max_lag_ms
    """
    interval = check_number("interval", interval, 0.001, 1.0)
    meter = Heartbeat(interval)
    task = asyncio.create_task(meter._beat(), name="heartbeat")
    try:
        yield meter
    finally:
        meter._close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
