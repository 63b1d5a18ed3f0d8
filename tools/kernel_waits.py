"""``sliced_waits``: never miss a kernel's reply that has already arrived.

Under load, zmq.asyncio (pyzmq 27) can miss the wake-up for a message that is already in
the socket: a cell's reply then sits unseen until the wait's timeout, when a last poll
finds it, so a cell that ran in 0.2 s "takes" the whole cell timeout. This was the
multi-minute stall seen when several kernels with widget panels ran at once (measured
with tools/classroom.py: 8 of 205 cells, each picked up by its kernel at once and its
reply seen 39.3-39.9 s late at a 40 s timeout; none with sliced waits). Every tool and
test that drives kernels through nbclient's async client applies it to the shell and
iopub channels right after the kernel starts.
"""

from __future__ import annotations

import time

from jupyter_client.channels import Empty

__all__ = ["POLL_SLICE", "sliced_waits", "slice_client_waits"]

# Seconds: the longest single wait on a kernel channel, so the most a missed wake-up costs.
POLL_SLICE = 1.0


def sliced_waits(channel, every: float = POLL_SLICE) -> None:
    """Make ``channel.get_msg(timeout)`` wait in slices of ``every`` seconds. Each slice
    ends with zmq's final poll, so a missed wake-up costs at most ``every`` seconds; the
    overall timeout is unchanged (None still waits for ever)."""
    wait = channel.get_msg

    async def get_msg(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = every if deadline is None else max(0.0, min(every, deadline - time.monotonic()))
            try:
                return await wait(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg


def slice_client_waits(client, every: float = POLL_SLICE) -> None:
    """``sliced_waits`` on an nbclient ``NotebookClient``'s shell and iopub channels; use it
    as ``client.on_notebook_start`` or right after ``client.setup_kernel()`` is entered."""
    sliced_waits(client.kc.shell_channel, every)
    sliced_waits(client.kc.iopub_channel, every)
