"""The grader's limits (per cell, per notebook, kernel memory), checked before any work."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["CELL_TIMEOUT", "MEMORY_MB", "NOTEBOOK_TIMEOUT", "Limits", "parse_lesson"]

CELL_TIMEOUT = 60.0  # seconds one cell may run before it is interrupted
NOTEBOOK_TIMEOUT = 300.0  # seconds one whole submission may run
MEMORY_MB = 4096  # the kernel's address-space limit (RLIMIT_AS), in MiB; 0: no limit

_CELL_RANGE = (1.0, 3600.0)
_NOTEBOOK_RANGE = (1.0, 86400.0)
_MEMORY_RANGE = (1024, 1024 * 1024)  # a kernel with numpy and matplotlib maps about 1.1 GiB


def _seconds(given: object, name: str, low: float, high: float) -> float:
    bad = ValueError(f"{name} must be a number of seconds from {low:g} to {high:g}, "
                     f"got {given!r}")
    value = given
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise bad from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad
    if not math.isfinite(value) or not low <= value <= high:
        raise bad
    return float(value)


def _megabytes(value: object, name: str) -> int:
    low, high = _MEMORY_RANGE
    allowed = f"a whole number of MiB from {low} to {high}, or 0 for no limit"
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    if value != 0 and not low <= value <= high:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


@dataclass(frozen=True)
class Limits:
    """How long a cell and a whole submission may run, and the kernel's memory (MiB).

    Values may be given as text (from the command line); each is checked and converted
    here, and a bad one raises ``ValueError`` naming the option and what it allows.
    """

    cell_timeout: float = CELL_TIMEOUT
    notebook_timeout: float = NOTEBOOK_TIMEOUT
    memory_mb: int = MEMORY_MB

    def __post_init__(self) -> None:
        cell = _seconds(self.cell_timeout, "cell_timeout (--cell-timeout)", *_CELL_RANGE)
        notebook = _seconds(self.notebook_timeout, "notebook_timeout (--notebook-timeout)",
                            *_NOTEBOOK_RANGE)
        if cell > notebook:
            raise ValueError(f"cell_timeout (--cell-timeout, {cell:g} s) must not be longer "
                             f"than notebook_timeout (--notebook-timeout, {notebook:g} s)")
        memory = _megabytes(self.memory_mb, "memory_mb (--memory-mb)")
        object.__setattr__(self, "cell_timeout", cell)
        object.__setattr__(self, "notebook_timeout", notebook)
        object.__setattr__(self, "memory_mb", memory)


def parse_lesson(value: object, known: list[str]) -> str | None:
    """``None``, or a lesson as two digits and perhaps a letter ("4" and "04" give "04", "8b"
    gives "08b"), one of ``known``."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2})([a-zA-Z]?)", str(value).strip())
    if match and f"{int(match.group(1)):02d}{match.group(2).lower()}" in known:
        return f"{int(match.group(1)):02d}{match.group(2).lower()}"
    raise ValueError(f"lesson (--lesson) must be one of {', '.join(known)}, got {value!r}")
