"""asynclab.check.ex09: the checks of notebook 09 (the decision guide)."""


import asynclab.check as check
from asynclab.check import ex09
from test_check_core import (
    hints,
    not_implemented,
    passes,
    plain_not_implemented,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)


def test_ex09_choices():
    passes(check.ex09_choices(dict(ex09.EX09_MATCH)))
    unanswered(check.ex09_choices(None))
    unanswered(check.ex09_choices(dict.fromkeys(ex09.EX09_MATCH)))
    pdfs = "summarise 20 PDFs with a pure-Python parser"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "to_thread"})), "GIL")
    report = "three agents fill one report; if one fails, cancel the others"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{report: "gather"})), "leaves the other")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "lock"})), "section 3")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "threads"})), "answer one of")
    for odd in ("many", -5, [1], {"a": 1}, float("nan")):
        hints(check.ex09_choices(odd), "keep choices")


def test_ex09_gather():
    passes(check.ex09_gather(["slow", "fast"]))
    passes(check.ex09_gather(("slow", "fast")))
    unanswered(check.ex09_gather(None))
    hints(check.ex09_gather(["fast", "slow"]), "completion order")
    for odd in ("many", -5, [1], {"a": 1}, float("nan"), ["slow"]):
        hints(check.ex09_gather(odd), "one result per argument")


def test_ex09_acquire_order():
    passes(check.ex09_acquire_order(sorted))
    passes(check.ex09_acquire_order(lambda names: sorted(names, reverse=True)))
    unanswered(check.ex09_acquire_order(None))
    unanswered(check.ex09_acquire_order(plain_not_implemented))
    hints(check.ex09_acquire_order(lambda names: names), "deadlock", "same order")
    hints(check.ex09_acquire_order(lambda names: names[:1]), "every name")
    hints(check.ex09_acquire_order(lambda names: None), "every name")
    hints(check.ex09_acquire_order(lambda names: 1 / 0), "ZeroDivisionError")
    hints(check.ex09_acquire_order(42), "pass the function itself")
    hints(check.ex09_acquire_order(not_implemented), "plain def")
