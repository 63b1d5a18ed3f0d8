"""asynclab.check.ex03: the checks of notebook 03 (async tool execution)."""

import math

import asynclab.check as check
import pytest
from asynclab.check import ex03
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
)


def test_ex03_answers():
    passes(check.ex03_answers(dict(ex03.EX03_KEY)))
    # case, spaces and other forms of the two words are not the lesson
    other_words = {line: {"blocks": " Blocked", "free": "FREE "}[pick]
                   for line, pick in ex03.EX03_KEY.items()}
    passes(check.ex03_answers(other_words))
    wrong = dict(ex03.EX03_KEY, **{"await asyncio.to_thread(time.sleep(1))": "free"})
    hints(check.ex03_answers(wrong), "parentheses")
    hints(check.ex03_answers(dict(ex03.EX03_KEY, **{"time.sleep(1)": "free"})), "no await")
    hints(check.ex03_answers(dict(ex03.EX03_KEY, **{"requests.get(url)": "free"})), "no await")
    httpx_line = "await client.get(url)  # httpx.AsyncClient"
    hints(check.ex03_answers(dict(ex03.EX03_KEY, **{httpx_line: "blocks"})), "suspends")
    hints(check.ex03_answers(dict(ex03.EX03_KEY, **{httpx_line: "maybe"})), "answer 'blocks'")
    unanswered(check.ex03_answers(dict.fromkeys(ex03.EX03_KEY)))


def test_ex03_burst_accepts_the_answer_however_it_is_written():
    passes(check.ex03_burst(math.ceil(30 / 4) * 100))  # the reference
    passes(check.ex03_burst(-(-30 // 4) * 100.0))      # another ceil, a float
    passes(check.ex03_burst(820))                       # a little overhead allowed for


@pytest.mark.parametrize(("answer", "misconception"), [
    (100, "not start a thread per call"),  # a thread per call: one round
    (750, "no half round"),                # 30 / 4 rounds, not rounded up
    (900, "more rounds than there are"),
    (30 * 100, "side by side"),            # one call at a time
    (0.8, "did you write seconds"),
])
def test_ex03_burst_names_each_misconception(answer, misconception):
    hints(check.ex03_burst(answer), misconception)


def test_ex03_burst_ignoring_the_pool_of_4_is_named_where_it_differs():
    default = math.ceil(30 / ex03._default_pool()) * 100
    if default in (100, 750, 800, 900):
        pytest.skip(f"here the default pool gives {default} ms, another answer's number")
    hints(check.ex03_burst(default), "set to 4 workers")


def test_ex03_burst_accepts_only_answers_closer_to_8_rounds():
    hints(check.ex03_burst(770), "no half round")
    passes(check.ex03_burst(780))
    passes(check.ex03_burst(845))
    hints(check.ex03_burst(855), "more rounds than there are")
