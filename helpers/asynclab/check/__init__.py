"""Checks for the notebooks' exercises: ``check.ex04_increment(your_function)``.

Each ``exNN_name`` runs the learner's answer against hidden cases and returns a
``Verdict``: it shows as ``pass: ...``, ``hint: ...`` (naming the misconception) or
``not answered yet: ...``. A check never raises on a wrong answer: the learner's
exceptions, hangs (bounded by ``TIMEOUT``) and type mix-ups all become hints. The cases
mirror the notebooks' own experiments; the lesson stays in the notebook.

``core`` holds what every check shares (the verdict, running the learner's code bounded in
time); ``exNN`` holds the checks of notebook NN, with the fixtures they share with it.
"""

from .core import TIMEOUT, Verdict
from .ex00 import ex00_bridge, ex00_concurrent
from .ex01 import ex01_order, ex01_yielding
from .ex02 import ex02_choices, ex02_prediction
from .ex03 import ex03_answers, ex03_burst
from .ex04 import ex04_increment, ex04_prediction, ex04_store_agent
from .ex05 import ex05_collect, ex05_fastest, ex05_retry
from .ex06 import ex06_slow_calls, ex06_workers
from .ex07 import ex07_backoff, ex07_bottleneck
from .ex08 import ex08_charge, ex08_keep
from .ex08b import ex08b_polite
from .ex09 import ex09_acquire_order, ex09_choices, ex09_gather
from .ex10 import ex10_call_tool, ex10_min_task

__all__ = [
    "TIMEOUT",
    "Verdict",
    "ex00_bridge",
    "ex00_concurrent",
    "ex01_order",
    "ex01_yielding",
    "ex02_choices",
    "ex02_prediction",
    "ex03_answers",
    "ex03_burst",
    "ex04_increment",
    "ex04_prediction",
    "ex04_store_agent",
    "ex05_collect",
    "ex05_fastest",
    "ex05_retry",
    "ex06_slow_calls",
    "ex06_workers",
    "ex07_backoff",
    "ex07_bottleneck",
    "ex08_charge",
    "ex08_keep",
    "ex08b_polite",
    "ex09_acquire_order",
    "ex09_choices",
    "ex09_gather",
    "ex10_call_tool",
    "ex10_min_task",
]
