"""asynclab.check.ex02: the checks of notebook 02 (concurrency vs parallelism)."""


import asynclab.check as check
from asynclab.check import ex02
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)


def test_ex02_choices():
    passes(check.ex02_choices(dict(ex02.EX02_RIGHT)))
    hints(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT, "processes")), "mostly waiting")
    hints(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT, "gather")), "CPU work")
    unanswered(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT)))


def test_ex02_prediction():
    passes(check.ex02_prediction(100 + 4 * 50))
    hints(check.ex02_prediction(4 * 150), "overlap")        # all in sequence
    hints(check.ex02_prediction(100), "CPU work does not")  # the work overlaps too
