"""Runs inside a grading kernel: record the verdict of every exercise check the notebook calls.

The grader's first cell calls ``install(path)``: each ``asynclab.check.exNN_*`` (on the
package, which ``check.exNN_name(...)`` reads at call time, and on its own module) is
replaced by a wrapper that calls it and appends one JSON line to ``path``:
``{"check": name, "passed": bool, "message": str}``, or ``{"check": name, "raised": str}``
when the check itself raised (an interrupt, for example). A file, not printed output, so
the records survive a learner's cell that kills its kernel or redirects ``sys.stdout``.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import asynclab.check as checks

__all__ = ["CHECK_NAME", "install"]

CHECK_NAME = re.compile(r"^ex\d\d[a-z]?_\w+$")


def _append(path: str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def _recording(name: str, check: Callable[..., Any], path: str) -> Callable[..., Any]:
    @functools.wraps(check)
    def recorded(*args: Any, **kwargs: Any) -> Any:
        try:
            verdict = check(*args, **kwargs)
        except BaseException as exc:
            _append(path, {"check": name, "raised": f"{type(exc).__name__}: {exc}"})
            raise
        _append(path, {"check": name, "passed": bool(getattr(verdict, "passed", False)),
                       "message": str(getattr(verdict, "message", verdict))})
        return verdict

    return recorded


def install(path: str) -> Callable[[], None]:
    """Wrap every exercise check so that its calls are appended to ``path``.

    Returns the function that puts the original checks back (the grader's kernel is thrown
    away, so it never needs it; a test in this process does)."""
    undo: list[tuple[Any, str, Any]] = []
    for name in checks.__all__:
        if not CHECK_NAME.match(name):
            continue
        original = getattr(checks, name)
        recorded = _recording(name, original, path)
        module = sys.modules.get(getattr(original, "__module__", ""))
        for owner in (checks, module):
            if owner is not None and getattr(owner, name, None) is original:
                setattr(owner, name, recorded)
                undo.append((owner, name, original))

    def restore() -> None:
        for owner, name, original in undo:
            setattr(owner, name, original)

    return restore
