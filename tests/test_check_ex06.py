"""asynclab.check.ex06: the checks of notebook 06 (thread and process pools)."""

import math
import os

import asynclab.check as check
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    )


def test_ex06_workers():
    passes(check.ex06_workers(math.ceil(60 / (250 // 50))))
    hints(check.ex06_workers(5), "waves")          # too few: 12 waves of 50 ms
    hints(check.ex06_workers(15), "so would 14")   # more than needed
    hints(check.ex06_workers(True), "whole number")


def test_ex06_slow_calls():
    passes(check.ex06_slow_calls(lambda: min(32, (os.cpu_count() or 1) + 4)))
    hints(check.ex06_slow_calls(os.cpu_count), "need no core")
    hints(check.ex06_slow_calls(lambda: 10**6), "thread per call")
