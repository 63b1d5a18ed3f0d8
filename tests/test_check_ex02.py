"""asynclab.check.ex02: the checks of notebook 02 (concurrency vs parallelism)."""

import asynclab.check as check
import pytest
from asynclab.check import ex02
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)


def test_ex02_choices():
    passes(check.ex02_choices(dict(ex02.EX02_RIGHT)))
    # case and spaces are not the lesson
    shouted = {job: f" {pick.upper()} " for job, pick in ex02.EX02_RIGHT.items()}
    passes(check.ex02_choices(shouted))
    hints(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT, "processes")), "mostly waiting")
    hints(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT, "gather")), "CPU work")
    hints(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT, "threads")), "answer 'gather'")
    hints(check.ex02_choices(list(ex02.EX02_RIGHT.values())), "keep choices as the dict")
    unanswered(check.ex02_choices(dict.fromkeys(ex02.EX02_RIGHT)))


def test_ex02_prediction_accepts_the_answer_however_it_is_written():
    passes(check.ex02_prediction(100 + 4 * 50))  # the reference
    passes(check.ex02_prediction(320.0))         # a float, with some overhead allowed for
    passes(check.ex02_prediction(max(100, 50) + 50 * 4 - 10))


@pytest.mark.parametrize(("answer", "misconception"), [
    (150, "CPU work does not"),    # the work overlaps too
    (200, "can only start once"),  # the wait forgotten
    (400, "cost one wait, not four"),   # the waits in sequence, the work forgotten
    (600, "about one wait"),       # nothing overlaps
    (0.3, "did you write seconds"),
])
def test_ex02_prediction_names_each_misconception(answer, misconception):
    hints(check.ex02_prediction(answer), misconception)


def test_ex02_prediction_accepts_only_answers_closer_to_the_right_one():
    right, others = ex02.RIGHT_MS, [ms for ms in ex02.PREDICTIONS if ms != ex02.RIGHT_MS]
    assert right == 300 and sorted(others) == [150, 200, 400, 600]
    hints(check.ex02_prediction(245), "can only start once")  # nearer 200 than 300
    passes(check.ex02_prediction(345))
    hints(check.ex02_prediction(355), "cost one wait, not four")  # nearer 400
    unanswered(check.ex02_prediction(None))
    hints(check.ex02_prediction("300"), "positive number")
