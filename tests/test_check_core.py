"""asynclab.check: every exercise check passes the reference solution, names the
misconception of a typical wrong answer, says "not answered yet", and never raises.

This file tests the core and what every check shares; ``test_check_exNN.py`` tests the
checks of notebook NN and imports the helpers below (``passes``, ``hints``, ...).
"""

import ast
import asyncio
import json
import re
from pathlib import Path

import asynclab.check as check
import asynclab.check.core as core
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setattr(core, "TIMEOUT", 1.0)  # so the hanging answers cost a second


def passes(verdict):
    assert isinstance(verdict, check.Verdict)
    assert verdict.passed and str(verdict).startswith("pass: "), verdict
    assert verdict  # truthy when passed


def hints(verdict, *words):
    assert isinstance(verdict, check.Verdict)
    assert not verdict.passed and str(verdict).startswith("hint: "), verdict
    assert not verdict
    for word in words:
        assert word in verdict.message, verdict.message


def unanswered(verdict):
    assert not verdict.passed and str(verdict).startswith("not answered yet"), verdict
    assert repr(verdict) == str(verdict)


async def not_implemented(*args, **kwargs):
    raise NotImplementedError


def plain_not_implemented(*args, **kwargs):
    raise NotImplementedError


async def raises(*args, **kwargs):
    raise KeyError("oops")


async def hangs(*args, **kwargs):
    await asyncio.Event().wait()


ASYNC_CHECKS = [check.ex00_concurrent, check.ex01_yielding, check.ex04_increment,
                check.ex04_store_agent, check.ex05_retry, check.ex05_collect,
                check.ex05_fastest]
VALUE_CHECKS = [check.ex01_order, check.ex02_choices, check.ex02_prediction,
                check.ex03_answers, check.ex03_burst, check.ex04_prediction,
                check.ex06_workers, check.ex07_bottleneck]
PLAIN_CHECKS = [check.ex00_bridge, check.ex06_slow_calls, check.ex07_backoff]


@pytest.mark.parametrize("ex", ASYNC_CHECKS + PLAIN_CHECKS + VALUE_CHECKS,
                         ids=lambda f: f.__name__)
def test_none_is_not_answered_yet(ex):
    unanswered(ex(None))


@pytest.mark.parametrize("ex", ASYNC_CHECKS, ids=lambda f: f.__name__)
def test_async_checks_turn_learner_errors_into_hints(ex):
    unanswered(ex(not_implemented))
    hints(ex(raises))
    hints(ex(hangs), "did not finish")
    hints(ex(42), "pass the function itself")
    hints(ex(lambda *a, **k: None), "async def")


@pytest.mark.parametrize("ex", PLAIN_CHECKS, ids=lambda f: f.__name__)
def test_plain_checks_turn_learner_errors_into_hints(ex):
    unanswered(ex(plain_not_implemented))
    hints(ex(lambda *a, **k: 1 / 0))
    hints(ex(42))
    hints(ex(not_implemented))  # async def where a plain def is asked: a hint, not a crash


@pytest.mark.parametrize("ex", VALUE_CHECKS, ids=lambda f: f.__name__)
def test_value_checks_never_raise_on_odd_values(ex):
    for odd in ("many", -5, [1], {"a": 1}, float("nan")):
        verdict = ex(odd)
        assert not verdict.passed and verdict.message.startswith("hint: "), (odd, verdict)


# -- the core ------------------------------------------------------------------------------

def test_need_function_is_the_one_guard_for_plain_and_async_functions():
    def plain():
        pass

    async def coroutine_function():
        pass

    def verdict(fn, **kwargs):
        try:
            core.need_function(fn, "f(x)", **kwargs)
        except core.Stop as stop:
            return stop.verdict
        return None

    unanswered(verdict(None, is_async=True))
    hints(verdict(42, is_async=True), "pass the function itself (f(x)), not a int")
    hints(verdict(42, is_async=False, not_callable="compute it"), "compute it")
    hints(verdict(plain, is_async=True), "`async def`")
    hints(verdict(coroutine_function, is_async=False), "plain `def`")
    hints(verdict(coroutine_function, is_async=False, not_plain="no async"), "no async")
    assert verdict(coroutine_function, is_async=True) is None
    assert verdict(plain, is_async=False) is None


def test_close_coroutines_closes_what_the_learner_never_awaited():
    async def plan():
        pass

    coro = plan()
    assert core.close_coroutines(1, coro, [plan])
    assert coro.cr_frame is None  # closed: no "never awaited" warning
    assert not core.close_coroutines(None, [1], "text")


def test_checks_keep_their_names_and_docs_under_judged():
    assert check.ex04_increment.__name__ == "ex04_increment"
    assert check.ex04_increment.__module__ == "asynclab.check.ex04"
    assert "increment_fixed" in check.ex04_increment.__doc__


# -- the package ---------------------------------------------------------------------------

PACKAGE = ROOT / "helpers" / "asynclab" / "check"


def test_every_check_is_exported_and_every_call_in_the_notebooks_exists():
    defined = set()
    for path in sorted(PACKAGE.glob("ex*.py")):
        tree = ast.parse(path.read_text())
        defined |= {node.name for node in tree.body
                    if isinstance(node, ast.FunctionDef) and re.fullmatch(r"ex\d\d[a-z]?_\w+", node.name)}
        doc = ast.get_docstring(tree)
        assert doc and "\n" not in doc and f"notebook {path.stem[2:]}" in doc, path.name
    assert set(check.__all__) == defined | {"TIMEOUT", "Verdict"}
    called = set()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            called |= set(re.findall(r"\bcheck\.(ex\d\d[a-z]?_\w+)\(", "".join(cell["source"])))
    assert called and called <= set(check.__all__), called - set(check.__all__)


def test_core_does_not_import_the_checks():
    imported = []
    for node in ast.walk(ast.parse((PACKAGE / "core.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import / from . import
            imported += [node.module] if node.module else [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom | ast.Import):
            imported += [node.module] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
    assert not [m for m in imported if m and (m.startswith("ex") or "check" in m)], imported


def test_numbers_from_numpy_are_numbers_and_quoted_numbers_are_told_so():
    import numpy as np

    assert core.is_number(np.int64(3)) and core.is_number(np.float32(0.5))
    assert not core.is_number(True) and not core.is_number(np.bool_(True))
    assert not core.is_number(float("nan")) and not core.is_number("3")
    assert core.need_positive_ms(np.int64(40), "latency_ms") == 40.0
    with pytest.raises(core.Stop) as stop:
        core.need_positive_ms("40", "latency_ms")
    assert "latency_ms must be a positive number of milliseconds, got the text '40': write " \
        "it without quotes" in stop.value.verdict.message
