"""asynclab.check.ex06: the checks of notebook 06 (thread and process pools)."""

import concurrent.futures
import math
import multiprocessing
import os
import sys

import asynclab.check as check
import asynclab.check.ex06 as ex06
from test_check_core import (
    hints,
    passes,
    short_timeout,  # noqa: F401 (autouse: a hanging answer costs a second)
    unanswered,
    )

NEW = sys.version_info >= (3, 13)


def test_ex06_workers():
    passes(check.ex06_workers(math.ceil(60 / (250 // 50))))
    passes(check.ex06_workers(12))
    hints(check.ex06_workers(5), "waves")          # too few: 12 waves of 50 ms
    hints(check.ex06_workers(15), "so would 14")   # more than needed
    hints(check.ex06_workers(True), "whole number")
    unanswered(check.ex06_workers(None))


def reference():
    cpus = os.process_cpu_count() if sys.version_info >= (3, 13) else os.cpu_count()
    return min(32, (cpus or 1) + 4)


def by_a_fresh_pool():  # another shape: ask a fresh pool of the default size
    with concurrent.futures.ThreadPoolExecutor() as pool:
        return pool._max_workers


def by_affinity_and_version():  # another shape: the affinity mask on 3.13, a lambda's style
    cores = len(os.sched_getaffinity(0)) if NEW else multiprocessing.cpu_count()
    return float(min(cores + 4, 32))


def test_ex06_slow_calls_accepts_answers_computed_from_the_machine():
    passes(check.ex06_slow_calls(reference))
    passes(check.ex06_slow_calls(by_a_fresh_pool))
    passes(check.ex06_slow_calls(by_affinity_and_version))
    passes(check.ex06_slow_calls(lambda: min(32, ((os.process_cpu_count() if NEW else os.cpu_count()) or 1) + 4)))


def test_ex06_slow_calls_names_each_misconception():
    typed_in = reference()
    hints(check.ex06_slow_calls(lambda: typed_in), "typed in")
    hints(check.ex06_slow_calls(os.cpu_count), "need no core")
    hints(check.ex06_slow_calls(lambda: 10**6), "thread per call")
    hints(check.ex06_slow_calls(lambda: 7 if typed_in != 7 else 8), "not the size")
    hints(check.ex06_slow_calls(lambda: (os.process_cpu_count() if NEW else os.cpu_count()) + 4),
          "capped")
    if NEW:  # the 3.12 formula on 3.13: counts cores this process may not use
        hints(check.ex06_slow_calls(lambda: min(32, os.cpu_count() + 4)), "process_cpu_count")
    else:  # the 3.13 formula before 3.13: the affinity is not what the pool counts
        hints(check.ex06_slow_calls(lambda: min(32, len(os.sched_getaffinity(0)) + 4)),
              "os.cpu_count()")
    hints(check.ex06_slow_calls(lambda: "six"), "whole number")
    hints(check.ex06_slow_calls(6), "computed from the machine")
    unanswered(check.ex06_slow_calls(None))


def test_ex06_slow_calls_leaves_os_as_it_was():
    before = (os.cpu_count, getattr(os, "process_cpu_count", None), os.sched_getaffinity)
    check.ex06_slow_calls(lambda: 1 / 0)
    check.ex06_slow_calls(reference)
    assert (os.cpu_count, getattr(os, "process_cpu_count", None), os.sched_getaffinity) == before
    assert ex06.FAKE_MACHINES  # pretend machines, with the cap and an affinity among them
