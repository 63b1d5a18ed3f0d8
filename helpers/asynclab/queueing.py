"""How many jobs wait for a worker, over time: the queue of a pool, from its jobs' times.

A pool job waits from the moment it is submitted until a worker starts it. Those waits
belong to no thread yet, so a timeline draws them on a lane of their own, as the number of
jobs waiting at each moment (``plotting.plot_timeline``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["queue_depth"]


def queue_depth(submit_ms, start_ms) -> tuple[np.ndarray, np.ndarray]:
    """How many jobs wait for a worker over time: ``(times, counts)``, a step function (each
    count holds until the next time). Job ``i`` waits from ``submit_ms[i]`` to ``start_ms[i]``."""
    submit = np.asarray(submit_ms, dtype=float).ravel()
    start = np.asarray(start_ms, dtype=float).ravel()
    if submit.size != start.size:
        raise ValueError(f"submit_ms and start_ms need one entry per job, got {submit.size} "
                         f"and {start.size}")
    if (start < submit).any():
        raise ValueError("a job cannot start before it is submitted (start_ms < submit_ms)")
    times, at = np.unique(np.r_[submit, start], return_inverse=True)
    # every submit (+1) and start (-1) at one instant is counted at once: no false peak
    net = np.bincount(at.ravel(), weights=np.r_[np.ones(submit.size), -np.ones(start.size)],
                      minlength=times.size)
    return times, np.cumsum(net).round().astype(int)
