"""Instruments for notebook 04: run a race many times, count lost updates, draw them.

The race itself (the shared counter, the ``await`` between read and write, the ``Lock``,
the ``Queue``, the SQL statement) stays in the notebook. This module only repeats it with
seeded random generators, collects the final counts, runs plain functions in threads with
every thread joined before it returns (optionally with a shorter thread switch interval,
always restored), and runs one coroutine per thread, each on its own event loop, as
separate processes would.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .palette import COLORS
from .plotting import add_legend, new_figure, styled
from .runner import run
from .validate import check_callable, check_int, check_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Trials", "ThreadRun", "run_trials", "plot_trials", "run_in_threads", "run_loops",
           "BudgetDB", "budget_db"]

#: Bounds that keep one call of ``run_trials`` or ``run_in_threads`` reasonable.
MAX_TRIALS = 10_000
MAX_THREADS = 64


@dataclass(frozen=True)
class Trials:
    """Final counts of repeated runs of one race, against the count it should reach."""

    label: str
    expected: int
    counts: tuple[int, ...]

    @property
    def lost(self) -> list[int]:
        """Updates lost in each trial: expected minus final count."""
        return [self.expected - c for c in self.counts]

    @property
    def exact(self) -> bool:
        """True when every trial reached exactly the expected count."""
        return all(c == self.expected for c in self.counts)

    @property
    def distinct(self) -> list[int]:
        """The different final counts seen, smallest first."""
        return sorted(set(self.counts))

    def __str__(self) -> str:
        lost = self.lost
        wrong = sum(1 for x in lost if x)
        head = f"{self.label}: " if self.label else ""
        return (f"{head}{len(self.counts)} trials, expected {self.expected}; "
                f"final counts {min(self.counts)}..{max(self.counts)} ({len(self.distinct)} distinct); "
                f"{wrong} of {len(lost)} trials lost updates (at most {max(lost)})")


def run_trials(
    race: Callable[..., Awaitable[int]],
    *,
    trials: int,
    expected: int,
    seed: int = 0,
    label: str = "",
    timeout: float = 60.0,
    **params: Any,
) -> Trials:
    """Await ``race(rng=..., **params)`` ``trials`` times on one fresh event loop.

    Trial ``i`` gets its own ``random.Random`` seeded from ``(seed, i)``, so the same
    arguments give the same counts every time. ``race`` must return the final count.
    """
    check_callable("race", race)
    trials = check_int("trials", trials, 1, MAX_TRIALS)
    expected = check_int("expected", expected, 0, 10**12)
    seed = check_int("seed", seed, 0, 2**32 - 1)
    if not isinstance(label, str):
        raise TypeError(f"label must be a string, got {type(label).__name__}")
    if "rng" in params:
        raise ValueError("rng is made by run_trials (one per trial, from seed); do not pass it")

    async def all_trials() -> list[int]:
        counts = []
        for i in range(trials):
            count = await race(rng=random.Random(f"{seed}:{i}"), **params)
            if isinstance(count, bool) or not isinstance(count, int):
                raise TypeError(f"race must return the final count as an int, got {count!r}")
            counts.append(count)
        return counts

    return Trials(label, expected, tuple(run(all_trials(), timeout=timeout)))


@styled
def plot_trials(*results: Trials, title: str | None = None) -> Figure:
    """One histogram of lost updates per ``Trials``, side by side, sharing the y axis.

    Trials that reached the exact count are drawn in the "ideal" grey; trials that lost
    updates in the "failed" colour.
    """
    if not results:
        raise ValueError("plot_trials needs at least one Trials")
    for r in results:
        if not isinstance(r, Trials):
            raise TypeError(f"plot_trials takes Trials, got {type(r).__name__}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    from matplotlib.patches import Patch

    fig, axes = new_figure(4.2 * len(results) + 0.6, 3.2, ncols=len(results), sharey=True,
                           squeeze=False, suptitle=title or "Lost updates per trial")
    axes = axes[0]
    hi = max(max(r.lost) for r in results)
    for ax, r in zip(axes, results, strict=True):
        tally = Counter(r.lost)
        xs = np.array(sorted(tally))
        ys = np.array([tally[x] for x in xs])
        colors = [COLORS["ideal"] if x == 0 else COLORS["failed"] for x in xs]
        width = max(1.0, (hi + 1) / 60)  # at least one bin wide, still visible when wide
        ax.bar(xs, ys, width=width, color=colors, linewidth=0)
        ax.set_xlim(-max(1.0, hi * 0.04) - width, hi + max(1.0, hi * 0.04) + width)
        ax.set_xlabel("updates lost in one trial")
        ax.set_title(r.label or "trials", fontsize=10)
        ax.grid(True, axis="y")
        ax.grid(False, axis="x")
    axes[0].set_ylabel(f"trials (of {len(results[0].counts)})")
    add_legend(fig, [Patch(color=COLORS["ideal"], label="exact total (nothing lost)"),
                     Patch(color=COLORS["failed"], label="updates lost")])
    return fig


@dataclass(frozen=True)
class ThreadRun:
    """What ``run_in_threads`` saw: one outcome per thread (None, or the exception raised)."""

    errors: tuple[BaseException | None, ...]
    wall_s: float

    @property
    def raised(self) -> list[BaseException]:
        return [e for e in self.errors if e is not None]


def run_in_threads(target: Callable[..., Any], threads: int, args: Sequence[Any] = (),
                   *, timeout: float = 30.0, switch_interval: float | None = None) -> ThreadRun:
    """Start ``threads`` threads running ``target(*args)`` together; join them all.

    An exception in a thread is caught and returned, not printed. ``target`` must finish
    by itself: a thread still alive after ``timeout`` seconds is reported as an error
    (threads cannot be killed). ``switch_interval`` (seconds) sets
    ``sys.setswitchinterval`` while the threads run, so that the interpreter asks for a
    thread switch that often; the previous interval is restored before returning.
    """
    check_callable("target", target)
    threads = check_int("threads", threads, 1, MAX_THREADS)
    timeout = check_number("timeout", timeout, 0, 3600, lo_open=True)
    if switch_interval is not None:
        switch_interval = check_number("switch_interval", switch_interval, 0, 1, lo_open=True)
    args = tuple(args)
    errors: list[BaseException | None] = [None] * threads
    start_line = threading.Barrier(threads)

    def body(i: int) -> None:
        try:
            start_line.wait(timeout)  # all start together, so they really overlap
            target(*args)
        except BaseException as exc:  # handed back to the caller
            errors[i] = exc

    workers = [threading.Thread(target=body, args=(i,), name=f"racer-{i}", daemon=True)
               for i in range(threads)]
    previous = sys.getswitchinterval()
    t0 = time.perf_counter_ns()
    try:
        if switch_interval is not None:
            sys.setswitchinterval(switch_interval)
        for w in workers:
            w.start()
    finally:
        deadline = time.monotonic() + timeout
        for w in workers:
            if w.is_alive() or w.ident is not None:
                w.join(max(0.0, deadline - time.monotonic()))
        sys.setswitchinterval(previous)
    wall_s = (time.perf_counter_ns() - t0) / 1e9
    for i, w in enumerate(workers):
        if w.is_alive():
            errors[i] = TimeoutError(f"thread {w.name} still running after timeout={timeout:g} s")
    return ThreadRun(tuple(errors), wall_s)


def run_loops(main: Callable[[int], Awaitable[Any]], loops: int, *,
              timeout: float = 10.0) -> list[Any]:
    """Run ``main(i)`` for ``i`` in ``range(loops)``, each in its own thread on its own
    event loop (``asyncio.run``), all started together; return their results in order.

    To an ``asyncio.Lock`` (or anything else bound to one loop) each of these loops is
    what a separate process would be. Each run is bounded by ``timeout`` seconds (its own
    ``asyncio.timeout``); the first exception any of them raised is raised here, after
    every thread has been joined.
    """
    check_callable("main", main)
    loops = check_int("loops", loops, 1, MAX_THREADS)
    timeout = check_number("timeout", timeout, 0, 3600, lo_open=True)
    results: list[Any] = [None] * loops
    counter = iter(range(loops))
    lock = threading.Lock()

    def one() -> None:
        with lock:
            i = next(counter)

        async def bounded() -> Any:
            async with asyncio.timeout(timeout):
                return await main(i)

        results[i] = asyncio.run(bounded())

    ran = run_in_threads(one, loops, timeout=timeout + 5.0)
    if ran.raised:
        raise ran.raised[0]
    return results


class BudgetDB:
    """A token budget in a SQLite file: one table ``budget`` with one row, ``tokens``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def tokens(self) -> int:
        """The tokens the store says are left."""
        with closing(sqlite3.connect(self.path)) as db:
            return int(db.execute("SELECT tokens FROM budget").fetchone()[0])


@contextmanager
def budget_db(tokens: int) -> Iterator[BudgetDB]:
    """A fresh SQLite budget of ``tokens`` in a temporary directory, removed on exit.

    Any number of threads or processes can open ``path`` with their own connection,
    as services sharing one database would.
    """
    tokens = check_int("tokens", tokens, 0, 10**12)
    with tempfile.TemporaryDirectory(prefix="asynclab-budget-") as folder:
        path = os.path.join(folder, "budget.sqlite")
        with closing(sqlite3.connect(path)) as db:
            db.execute("CREATE TABLE budget (tokens INTEGER NOT NULL)")
            db.execute("INSERT INTO budget VALUES (?)", (tokens,))
            db.commit()
        yield BudgetDB(path)
