"""asynclab.check.ex07: the checks of notebook 07 (pipelines)."""

import random

import asynclab.check as check
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)


def test_ex07_bottleneck():
    passes(check.ex07_bottleneck("summarise"))
    passes(check.ex07_bottleneck(" Summarise "))
    passes(check.ex07_bottleneck("SUMMARIZE"))
    # the slowest single item is fetch's (40 ms), but 8 workers carry 200 items/s
    hints(check.ex07_bottleneck("fetch"), "slowest single item", "least capacity")
    hints(check.ex07_bottleneck(" Fetch"), "slowest single item")
    hints(check.ex07_bottleneck("parse"), "keeps up")
    hints(check.ex07_bottleneck("sumarise"), "one of")
    hints(check.ex07_bottleneck(3), "one of")
    hints(check.ex07_bottleneck(["summarise"]), "one of")  # a list: a hint, not a crash
    unanswered(check.ex07_bottleneck(None))


def test_ex07_backoff():
    def backoff_delay(attempt, retry_after=None):
        ceiling = min(2.0, 0.1 * 2**attempt)
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), retry_after or 0)

    def no_cap(attempt, retry_after=None):
        ceiling = 0.1 * 2**attempt
        return max(ceiling / 2 + random.uniform(0, ceiling / 2), retry_after or 0)

    def full_jitter(attempt, retry_after=None):
        return max(random.uniform(0, min(2.0, 0.1 * 2**attempt)), retry_after or 0)

    def no_jitter(attempt, retry_after=None):
        return max(min(2.0, 0.1 * 2**attempt), retry_after or 0)

    def ignores_retry_after(attempt, retry_after=None):
        ceiling = min(2.0, 0.1 * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    passes(check.ex07_backoff(backoff_delay))

    class Backoff:  # another shape: a callable object, random.random, numpy-free arithmetic
        def __call__(self, attempt, retry_after=None):
            half = min(2.0, 0.1 * 2**attempt) / 2
            return max(half + half * random.random(), retry_after if retry_after else 0.0)

    passes(check.ex07_backoff(Backoff()))
    passes(check.ex07_backoff(lambda a, retry_after=None: max(
        random.uniform(min(1.0, 0.05 * 2**a), min(2.0, 0.1 * 2**a)), retry_after or 0)))
    hints(check.ex07_backoff(no_cap), "cap")
    hints(check.ex07_backoff(full_jitter), "at least half")
    hints(check.ex07_backoff(no_jitter), "retry storm")
    hints(check.ex07_backoff(ignores_retry_after), "Retry-After")
    hints(check.ex07_backoff(lambda attempt, retry_after=None: "soon"), "number of seconds")
