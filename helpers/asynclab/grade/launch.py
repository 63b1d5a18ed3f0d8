"""Start a grading kernel under resource limits, then become it.

    python launch.py --memory-mb N -- ARGS...   (run as a script: imports nothing of asynclab)

Sets the address-space limit (``RLIMIT_AS``, so an allocation past it raises
``MemoryError`` in the learner's cell) and no core dumps, then ``exec``s
``python -m ipykernel_launcher ARGS``: the kernel keeps this process id, so interrupts and
kills reach it directly. The limits are inherited by every process the kernel starts.
On macOS the address-space limit is not enforced by the system.
"""

from __future__ import annotations

import os
import resource
import sys

__all__ = ["apply_limits", "main"]


def apply_limits(memory_mb: int) -> None:
    """Limit this process's address space to ``memory_mb`` MiB (0: leave it) and its core dumps to none."""
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "--memory-mb" or argv[2] != "--":
        raise SystemExit("usage: launch.py --memory-mb N -- KERNEL_ARGS...")
    apply_limits(int(argv[1]))
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv[3:]])


if __name__ == "__main__":
    main(sys.argv[1:])
