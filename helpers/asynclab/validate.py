"""Argument validation shared by every public function: fail at the door, naming the parameter."""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any


def check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """Return ``value`` if it is an int in ``[lo, hi]``; otherwise raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def check_number(
    name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real number in range."""
    low = "greater than" if lo_open else "at least"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number {low} {lo} and at most {hi}, got {value!r}")
    value = float(value)
    if math.isnan(value) or value > hi or value < lo or (lo_open and value == lo):
        raise ValueError(f"{name} must be {low} {lo} and at most {hi}, got {value}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_coroutine(name: str, value: Any) -> None:
    """Raise TypeError unless ``value`` is a coroutine object (not a function, not a task)."""
    if inspect.iscoroutine(value):
        return
    hint = ""
    if inspect.iscoroutinefunction(value):
        hint = f" (call it: pass {value.__name__}(...), not {value.__name__})"
    raise TypeError(f"{name} must be a coroutine object{hint}, got {type(value).__name__}")


def check_callable(name: str, value: Any) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
