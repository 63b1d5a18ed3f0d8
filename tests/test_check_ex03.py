"""asynclab.check.ex03: the checks of notebook 03 (async tool execution)."""

import math

import asynclab.check as check
from asynclab.check import ex03
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex03_answers():
    passes(check.ex03_answers(dict(ex03.EX03_KEY)))
    wrong = dict(ex03.EX03_KEY, **{"await asyncio.to_thread(time.sleep(1))": "free"})
    hints(check.ex03_answers(wrong), "parentheses")
    hints(check.ex03_answers(dict(ex03.EX03_KEY, **{"time.sleep(1)": "free"})), "no await")


def test_ex03_burst():
    passes(check.ex03_burst(math.ceil(30 / 4) * 100))
    hints(check.ex03_burst(100), "not start a thread per call")  # a thread per call
    hints(check.ex03_burst(30 * 100), "side by side")            # one at a time
