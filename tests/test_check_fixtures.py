"""The fixtures a notebook and its check both define are the same in both places.

A check re-runs the notebook's experiment with its own copy of the notebook's constants
(``EX05_AGENT_LATENCY`` is notebook 05's ``AGENT_LATENCY``), of its classes
(``BudgetStore``), of the keys of the dict the learner fills in, or of the numbers the
exercise's text states. The notebooks stay the single source for the learner; these tests
read their cells and fail, naming the notebook, the name and both values, when a copy in
``asynclab.check`` drifts.
"""

import ast
import copy
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from asynclab.check import ex01, ex02, ex03, ex04, ex05, ex07, ex09

ROOT = Path(__file__).resolve().parent.parent
CHECK_MODULES = {"ex02": ex02, "ex03": ex03, "ex04": ex04, "ex05": ex05, "ex09": ex09}

#: (notebook, name in the notebook, check module, name in the check module)
CONSTANTS = [
    ("04_race_conditions", "LLM_LATENCY", "ex04", "EX04_LLM_LATENCY"),
    ("05_task_management", "AGENT_LATENCY", "ex05", "EX05_AGENT_LATENCY"),
    ("05_task_management", "FAILING", "ex05", "EX05_FAILING"),
    ("05_task_management", "AGENT_DEADLINE", "ex05", "EX05_AGENT_DEADLINE"),
    ("05_task_management", "SEARCH_LATENCY", "ex05", "EX05_SEARCH_LATENCY"),
]
CLASSES = [("04_race_conditions", "BudgetStore", "ex04", "BudgetStore")]
#: The dicts the learner fills in: the exercise cell has the check's keys (values None),
#: the solution cell is the check's answer key.
ANSWER_DICTS = [
    ("02_concurrency_vs_parallelism", "choices", "ex02", "EX02_RIGHT"),
    ("03_async_tool_execution", "answers", "ex03", "EX03_KEY"),
    ("09_decision_guide", "choices", "ex09", "EX09_MATCH"),
]
NOTEBOOKS = sorted({case[0] for case in CONSTANTS + CLASSES + ANSWER_DICTS}
                   | {"01_event_loop", "07_pipelines"})


def load(stem: str) -> dict:
    return json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())


def check_value(module: str, name: str) -> Any:
    return getattr(CHECK_MODULES[module], name)  # read at call time: monkeypatch shows it


def definitions(nb: dict, name: str) -> list[ast.AST]:
    """The top-level definitions of ``name`` in the notebook's code cells, in order: the
    value of each assignment, or the class statement."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                           for line in source.splitlines())
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                found.append(node)
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets):
                found.append(node.value)
    return found


def markdown_with(nb: dict, needle: str) -> str:
    """The first markdown cell that mentions ``needle`` (an exercise's statement)."""
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and needle in text:
            return text.replace("*", "")
    raise AssertionError(f"no markdown cell mentions {needle!r}")


def class_shape(node: ast.ClassDef) -> str:
    """The class's code without docstrings or annotations: what it does, as an AST dump."""
    node = copy.deepcopy(node)
    for sub in ast.walk(node):
        body = getattr(sub, "body", None)
        if (isinstance(sub, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            sub.body = body[1:] or [ast.Pass()]
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef):
            sub.returns = None
        if isinstance(sub, ast.arg):
            sub.annotation = None
    return ast.dump(node)


def differ(stem: str, name: str, in_notebook: Any, module: str, attr: str,
           in_check: Any) -> str:
    def shown(value: Any) -> str:  # code as code, on its own lines; values as repr
        return "\n" + value + "\n" if isinstance(value, str) and "\n" in value else repr(value)

    return (f"notebooks/{stem}.ipynb has {name} = {shown(in_notebook)}, but "
            f"asynclab.check.{module}.{attr} = {shown(in_check)}: make them the same")


def differences(notebooks: dict[str, dict]) -> list[str]:
    """Every fixture whose copy in asynclab.check differs from the notebook's."""
    found = []
    for stem, name, module, attr in CONSTANTS:
        values = definitions(notebooks[stem], name)
        if len(values) != 1:
            found.append(f"notebooks/{stem}.ipynb defines {name} {len(values)} times, not once")
            continue
        ours, theirs = ast.literal_eval(values[0]), check_value(module, attr)
        if ours != theirs:
            found.append(differ(stem, name, ours, module, attr, theirs))
    for stem, name, module, attr in CLASSES:
        classes = definitions(notebooks[stem], name)
        theirs = ast.parse(inspect.getsource(check_value(module, attr))).body[0]
        if len(classes) != 1 or class_shape(classes[0]) != class_shape(theirs):
            shown = ast.unparse(classes[0]) if classes else "nothing"
            found.append(differ(stem, f"class {name}", shown, module, attr,
                                ast.unparse(theirs)))
    for stem, name, module, attr in ANSWER_DICTS:
        key = check_value(module, attr)
        dicts = [ast.literal_eval(v) for v in definitions(notebooks[stem], name)
                 if isinstance(v, ast.Dict)]
        if not dicts:
            found.append(f"notebooks/{stem}.ipynb has no dict {name}")
        for given in dicts:
            unanswered = all(v is None for v in given.values())
            if (unanswered and list(given) != list(key)) or (not unanswered and given != key):
                found.append(differ(stem, name, given, module, attr, key))
    found += stated_in_the_exercises(notebooks)
    return found


def stated_in_the_exercises(notebooks: dict[str, dict]) -> list[str]:
    """The numbers the exercises' text gives the learner, against the checks' constants."""
    found = []
    text = markdown_with(notebooks["01_event_loop"], "predicted_order")
    yields = {task: int(n) for task, n in re.findall(r"\b([A-Z]) (?:runs )?`hopper\((\d+)", text)}
    if yields != ex01.EX01_YIELDS:
        found.append(differ("01_event_loop", "the exercise's hopper(n) per task", yields,
                            "ex01", "EX01_YIELDS", ex01.EX01_YIELDS))
    text = markdown_with(notebooks["07_pipelines"], "my_bottleneck")
    stated = {}
    for stage in ex07.EX07_STAGES:
        match = re.search(rf"{stage}\D*?(\d+) ms\D*?(\d+)", text)
        stated[stage] = (float(match[1]) / 1e3, int(match[2])) if match else None
    spec = {s: (ex07.EX07_SPEC[s], ex07.EX07_WORKERS[s]) for s in ex07.EX07_STAGES}
    if stated != spec:
        found.append(differ("07_pipelines", "the exercise's (s per item, workers)", stated,
                            "ex07", "EX07_SPEC and EX07_WORKERS", spec))
    text = markdown_with(notebooks["09_decision_guide"], '"wait_first"')
    primitives = tuple(re.findall(r'`"(\w+)"`', text))
    if primitives != ex09.EX09_PRIMITIVES:
        found.append(differ("09_decision_guide", "the exercise's primitives", primitives,
                            "ex09", "EX09_PRIMITIVES", ex09.EX09_PRIMITIVES))
    return found


@pytest.fixture(scope="module")
def notebooks() -> dict[str, dict]:
    return {stem: load(stem) for stem in NOTEBOOKS}


def test_every_fixture_shared_by_a_notebook_and_its_check_is_the_same(notebooks):
    assert not differences(notebooks), "\n".join(differences(notebooks))


# -- the guard fails when a copy drifts --------------------------------------------------

def test_a_changed_constant_in_a_check_is_caught(notebooks, monkeypatch):
    monkeypatch.setattr(ex04, "EX04_LLM_LATENCY", 0.07)
    assert differences(notebooks) == [
        "notebooks/04_race_conditions.ipynb has LLM_LATENCY = 0.05, but "
        "asynclab.check.ex04.EX04_LLM_LATENCY = 0.07: make them the same"]


def doctored(nb: dict, old: str, new: str) -> dict:
    nb = copy.deepcopy(nb)
    hits = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if old in source:
            cell["source"], hits = source.replace(old, new), hits + 1
    assert hits == 1, (old, hits)
    return nb


@pytest.mark.parametrize("stem, old, new, words", [
    ("05_task_management", '"critic": 0.10}', '"critic": 0.11}',
     ["05_task_management", "AGENT_LATENCY", "0.11", "0.1}", "EX05_AGENT_LATENCY"]),
    ("04_race_conditions", "await asyncio.sleep(0.001)\n        self._tokens = tokens",
     "await asyncio.sleep(0.002)\n        self._tokens = tokens",
     ["04_race_conditions", "class BudgetStore", "sleep(0.002)", "sleep(0.001)"]),
    ("09_decision_guide", '"call a vendor\'s blocking Python SDK": None',
     '"call a vendor\'s blocking SDK": None', ["09_decision_guide", "choices", "EX09_MATCH"]),
    ("07_pipelines", "parse 2 ms with 1", "parse 3 ms with 1",
     ["07_pipelines", "(0.003, 1)", "(0.002, 1)", "EX07_SPEC"]),
    ("01_event_loop", 'B `hopper(3, "sleep(0)")`', 'B `hopper(4, "sleep(0)")`',
     ["01_event_loop", "'B': 4", "'B': 3", "EX01_YIELDS"]),
], ids=["constant", "class", "answer-dict", "stated-spec", "stated-yields"])
def test_a_changed_copy_in_a_notebook_is_caught(notebooks, stem, old, new, words):
    found = differences({**notebooks, stem: doctored(notebooks[stem], old, new)})
    assert len(found) == 1, found
    for word in words:
        assert word in found[0], (word, found[0])
