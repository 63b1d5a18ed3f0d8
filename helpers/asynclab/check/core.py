"""The core every exercise check shares: the verdict, and running the learner's code safely.

A check never raises on a wrong answer. It calls ``need_function`` (the one guard for "is
this the plain function / the coroutine function asked for"), runs the learner's code with
``run_learner`` (bounded by ``TIMEOUT``) or ``call_learner``, and any ``Stop`` raised on
the way becomes the check's verdict through ``judged``. Coroutines the learner made but
never ran are closed (``closing``, ``close_coroutines``); tasks and default pools are
closed with the fresh loop ``asynclab.run`` gives each trial.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ..runner import ExperimentTimeout, run

#: Seconds any one check may spend running the learner's code before it gives a hint.
#: The checks read it here at call time: to change it, set ``asynclab.check.core.TIMEOUT``.
TIMEOUT = 10.0


@dataclass(frozen=True)
class Verdict:
    """The answer of a check: ``passed``, and a message for the learner."""

    passed: bool
    message: str

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__

    def __bool__(self) -> bool:
        return self.passed


class Stop(Exception):
    """Raised inside a check to hand back a verdict early."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def ok(message: str) -> Verdict:
    return Verdict(True, f"pass: {message}")


def hint(message: str) -> Verdict:
    return Verdict(False, f"hint: {message}")


def todo(message: str) -> Verdict:
    return Verdict(False, f"not answered yet: {message}")


def judged(check: Callable[..., Verdict]) -> Callable[..., Verdict]:
    """Turn a ``Stop`` raised anywhere in ``check`` into its verdict."""

    def wrapper(*args: Any, **kwargs: Any) -> Verdict:
        try:
            return check(*args, **kwargs)
        except Stop as stop:
            return stop.verdict

    wrapper.__module__ = check.__module__
    wrapper.__name__ = check.__name__
    wrapper.__qualname__ = check.__qualname__
    wrapper.__doc__ = check.__doc__
    return wrapper


def raised(exc: BaseException) -> str:
    return f"your code raised {type(exc).__name__}: {exc}"


def need_function(fn: Any, what: str, *, is_async: bool, not_callable: str | None = None,
                   not_plain: str | None = None) -> None:
    """Stop with 'not answered yet' or a hint unless ``fn`` is the kind of function asked for.

    ``is_async``: an ``async def`` is asked for, else a plain ``def``. ``not_callable`` and
    ``not_plain`` replace the default hints for a value that is not a function, and for an
    ``async def`` where a plain ``def`` is asked for.
    """
    if fn is None:
        raise Stop(todo(f"write {what}"))
    if not callable(fn):
        raise Stop(hint(not_callable
                          or f"pass the function itself ({what}), not a {type(fn).__name__}"))
    if is_async and not inspect.iscoroutinefunction(fn):
        raise Stop(hint(f"{what} must be a coroutine function: define it with `async def`"))
    if not is_async and inspect.iscoroutinefunction(fn):
        raise Stop(hint(not_plain or f"{what} must be a plain `def`, not `async def`"))


def run_learner(make: Callable[[], Coroutine[Any, Any, Any]], what: str,
                 timeout: float | None = None) -> Any:
    """Run a trial coroutine through ``asynclab.run``; the learner's errors become verdicts."""
    timeout = TIMEOUT if timeout is None else timeout
    try:
        return run(make(), timeout=timeout)
    except NotImplementedError:
        raise Stop(todo(f"write {what}")) from None
    except ExperimentTimeout:
        raise Stop(hint(
            f"{what} did not finish within {timeout:g} s. Is it waiting for something that "
            "never happens, or looping forever (or blocking the loop with time.sleep)?"
        )) from None
    except Stop:
        raise
    except Exception as exc:  # the learner's error: a hint, never a traceback
        raise Stop(hint(f"{raised(exc)}. Read the exercise again: {what}")) from None


def call_learner(fn: Callable[..., Any], what: str, *args: Any) -> Any:
    """Call a plain learner function; its errors become verdicts."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise Stop(todo(f"write {what}")) from None
    except Exception as exc:
        raise Stop(hint(f"{raised(exc)}. Read the exercise again: {what}")) from None


def closing(made: list, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(...)``, then close the coroutines the learner made but never ran (no warning)."""
    try:
        return call(*args, **kwargs)
    finally:
        for coro in made:
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()


def close_coroutines(*values: Any) -> bool:
    """Close every coroutine object among ``values`` (so Python does not warn "never
    awaited"); True if there was one: the learner returned a coroutine where a result was due."""
    found = False
    for value in values:
        if inspect.iscoroutine(value):
            value.close()
            found = True
    return found


def is_number(value: Any) -> bool:
    """A finite real number: int, float, or numpy's (True and False are not numbers here)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and type(value).__name__ != "bool_" and math.isfinite(value))


def not_a_number(name: str, value: Any, wanted: str = "a number") -> str:
    """The hint for ``name = value`` that is not ``wanted``; text that reads as a number
    is told to lose its quotes."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            pass
        else:
            return f"{name} must be {wanted}, got the text {value!r}: write it without quotes"
    return f"{name} must be {wanted}, got {value!r}"


def need_positive_ms(value: Any, name: str) -> float:
    if value is None:
        raise Stop(todo(f"set {name} to a number of milliseconds"))
    if not is_number(value) or value <= 0:
        raise Stop(hint(not_a_number(name, value, "a positive number of milliseconds")))
    return float(value)


def need_choices(given: Any, key: dict[str, str], name: str, options: tuple[str, str]) -> None:
    a, b = options
    if given is None or (isinstance(given, dict) and any(v is None for v in given.values())):
        raise Stop(todo(f"replace each None in {name} with {a!r} or {b!r}"))
    if not isinstance(given, dict) or set(given) != set(key):
        raise Stop(hint(f"keep {name} as the dict you were given (the same keys); "
                          f"only replace its values with {a!r} or {b!r}"))
    for line, pick in given.items():
        if pick not in options:
            raise Stop(hint(f"{line!r}: answer {a!r} or {b!r}, not {pick!r}"))
