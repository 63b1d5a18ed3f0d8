"""``wait_for``: poll a condition with a deadline, for the tools and the tests."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], object], timeout: float = 5.0, *, every: float = 0.01) -> bool:
    """Poll ``condition`` every ``every`` seconds until it is true (return True) or ``timeout``
    seconds pass (return False). Never raises on its own, so the caller's assert says what
    it waited for."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True
