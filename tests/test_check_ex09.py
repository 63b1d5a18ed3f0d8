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
    # the same answers spelled otherwise: any case and spacing, the primitive's own name
    spelled = {"process_pool": "ProcessPoolExecutor", "wait_first": " Wait First ",
               "semaphore": "asyncio.Semaphore", "to_thread": "asyncio.to_thread",
               "taskgroup": "Task-Group"}
    passes(check.ex09_choices({s: spelled[p] for s, p in ex09.EX09_MATCH.items()}))
    unanswered(check.ex09_choices(None))
    unanswered(check.ex09_choices(dict.fromkeys(ex09.EX09_MATCH)))
    pdfs = "summarise 20 PDFs with a pure-Python parser"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "to_thread"})), "GIL")
    report = "three agents fill one report; if one fails, cancel the others"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{report: "gather"})), "leaves the other")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "lock"})), "section 3")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "gather"})), "no second core")
    first = "ask 3 search engines, use whichever answers first"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{first: "gather"})), "waits for all")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{first: "as_completed"})), "cancel")
    cap = "at most 4 requests in flight to a model API"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{cap: "Lock"})), "Semaphore(4) lets four")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{cap: "gather"})), "every request at once")
    sdk = "call a vendor's blocking Python SDK"
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{sdk: "gather"})), "freezes the loop")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{sdk: "process_pool"})), "pickling")
    hints(check.ex09_choices(dict(ex09.EX09_MATCH, **{pdfs: "threads"})), "answer one of")
    for odd in ("many", -5, [1], {"a": 1}, float("nan")):
        hints(check.ex09_choices(odd), "keep choices")


def test_ex09_gather():
    passes(check.ex09_gather(["slow", "fast"]))
    passes(check.ex09_gather(("slow", "fast")))
    passes(check.ex09_gather(["Slow", " FAST "]))   # any case and spacing
    unanswered(check.ex09_gather(None))
    hints(check.ex09_gather(["fast", "slow"]), "completion order")
    hints(check.ex09_gather(("FAST", "slow")), "completion order")
    hints(check.ex09_gather(["slow"]), "'slow'", "'fast'")
    for odd in ("many", -5, [1], {"a": 1}, float("nan"), ["slow"]):
        hints(check.ex09_gather(odd), "one result per argument")


def test_ex09_acquire_order():
    passes(check.ex09_acquire_order(sorted))
    passes(check.ex09_acquire_order(lambda names: sorted(names, reverse=True)))

    def by_rank(names):  # a fixed ranking of the resources: another global order
        rank = {"tools": 0, "memory": 1, "budget": 2}
        return tuple(sorted(names, key=rank.__getitem__))

    passes(check.ex09_acquire_order(by_rank))
    hints(check.ex09_acquire_order(lambda names: sorted(names, key=len)), "deadlock")
    unanswered(check.ex09_acquire_order(None))
    unanswered(check.ex09_acquire_order(plain_not_implemented))
    hints(check.ex09_acquire_order(lambda names: names), "deadlock", "same order")
    hints(check.ex09_acquire_order(lambda names: names[:1]), "every name")
    hints(check.ex09_acquire_order(lambda names: None), "every name")
    hints(check.ex09_acquire_order(lambda names: 1 / 0), "ZeroDivisionError")
    hints(check.ex09_acquire_order(42), "pass the function itself")
    hints(check.ex09_acquire_order(not_implemented), "plain def")
