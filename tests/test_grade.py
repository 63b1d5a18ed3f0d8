"""Grading a class's notebooks (asynclab.grade): a folder of real and broken submissions,
graded end to end in fresh kernels, every cell of the CSV asserted; then the pure parts
(verdicts, lesson detection, summary, CSV and HTML, argument checks) one by one."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from pathlib import Path

import asynclab.check as check
import nbformat
import psutil
import pytest
from asynclab.grade import Limits, grade_folder
from asynclab.grade.__main__ import main
from asynclab.grade.kernel import GradingKernel
from asynclab.grade.lesson import exercises_by_lesson, lesson_of, read_submission
from asynclab.grade.options import parse_lesson
from asynclab.grade.probe import install
from asynclab.grade.report import (
    Row,
    csv_safe,
    hint_key,
    render_html,
    shorten,
    summarize,
    write_csv,
)
from asynclab.grade.verdicts import Mark, mark_of_record, marks_for
from student_edition import student_notebook

ROOT = Path(__file__).resolve().parent.parent
NB00 = ROOT / "notebooks" / "00_start_here.ipynb"
NB01 = ROOT / "notebooks" / "01_event_loop.ipynb"
LESSONS = exercises_by_lesson()

FAST_CONCURRENT = ("async def fetch_both(fetch):\n"
                   "    return list(await asyncio.gather(fetch('user'), fetch('orders')))\n")
SLOW_CONCURRENT = ("async def fetch_both(fetch):\n"  # one after the other: the misconception
                   "    return [await fetch('user'), await fetch('orders')]\n")
GOOD_BRIDGE = "def answer(main):\n    return asynclab.run(main())\n"


# --- building submissions --------------------------------------------------------------


def student00():
    return student_notebook(nbformat.read(NB00, as_version=4))


def index_of(nb, start: str) -> int:
    found = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def answered(nb, fetch_both: str | None = None, answer: str | None = None):
    if fetch_both is not None:
        nb.cells[index_of(nb, "async def fetch_both")].source = fetch_both
    if answer is not None:
        nb.cells[index_of(nb, "def answer(main)")].source = answer
    return nb


def tiny(*sources: str, title: str = "# 00 · Start here"):
    """A small notebook: a title, then code cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title)] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def grading_processes() -> list[psutil.Process]:
    """Kernels and their children still alive, by the temporary directory they ran in."""
    left = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "asynclab-grade-" in cmd or "grade-child-marker" in cmd:
            left.append(proc)
    return left


# --- the class folder, graded once -------------------------------------------------------


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")

    def put(name: str, nb) -> None:
        nbformat.write(nb, folder / name)

    (folder / "alice.ipynb").write_bytes(NB00.read_bytes())  # the solutions in place
    put("bob.ipynb", student00())  # handed in empty
    # A lesson-00 notebook saved under lesson 01's name, with a hint and a pass.
    put("01_event_loop.ipynb", answered(student00(), SLOW_CONCURRENT, GOOD_BRIDGE))
    deleted = answered(student00(), FAST_CONCURRENT, GOOD_BRIDGE)
    del deleted.cells[index_of(deleted, "print(check.ex00_bridge")]
    put("dave.ipynb", deleted)  # deleted the second check cell
    # A syntax error in the answer cell: the check cell then raises NameError.
    put("erin.ipynb", answered(student00(), SLOW_CONCURRENT, "def answer(main:\n    pass\n"))
    dying = answered(student00(), FAST_CONCURRENT, GOOD_BRIDGE)
    dying.cells.insert(index_of(dying, "def answer(main)"),
                       nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    put("frank.ipynb", dying)  # kills its kernel between the two exercises
    put("gina.ipynb", student_notebook(nbformat.read(NB01, as_version=4)))  # another lesson
    (folder / "henry.ipynb").write_text(json.dumps({"name": "henry", "answers": [1, 2]}))
    (folder / "ivy.ipynb").write_bytes(NB00.read_bytes()[:300])  # cut short: invalid JSON
    (folder / "jack.ipynb").write_bytes(b"")
    (folder / "notes.txt").write_text("I could not get the kernel to start, sorry\n")
    (folder / "<em>mallory<em>.ipynb").write_bytes(NB00.read_bytes()[:10])
    before = digest(folder)
    lines: list[str] = []
    grades = grade_folder(folder, Limits(cell_timeout=60, notebook_timeout=240), progress=lines.append)
    return folder, grades, before, lines


EXPECTED = {  # file -> (lesson, {check: mark}); unlisted checks of other lessons are empty
    "alice.ipynb": ("00", {"ex00_bridge": "pass", "ex00_concurrent": "pass"}),
    "bob.ipynb": ("00", {"ex00_bridge": "not answered", "ex00_concurrent": "not answered"}),
    "01_event_loop.ipynb": ("00", {"ex00_bridge": "pass", "ex00_concurrent": "hint"}),
    "dave.ipynb": ("00", {"ex00_bridge": "missing", "ex00_concurrent": "pass"}),
    "erin.ipynb": ("00", {"ex00_bridge": "error", "ex00_concurrent": "hint"}),
    "frank.ipynb": ("00", {"ex00_bridge": "error", "ex00_concurrent": "pass"}),
    "gina.ipynb": ("01", {"ex01_order": "not answered", "ex01_yielding": "not answered"}),
    "henry.ipynb": ("", {"ex00_bridge": "missing", "ex00_concurrent": "missing"}),
    "ivy.ipynb": ("", {"ex00_bridge": "missing", "ex00_concurrent": "missing"}),
    "jack.ipynb": ("", {"ex00_bridge": "missing", "ex00_concurrent": "missing"}),
    "notes.txt": ("", {"ex00_bridge": "missing", "ex00_concurrent": "missing"}),
    "<em>mallory<em>.ipynb": ("", {"ex00_bridge": "missing", "ex00_concurrent": "missing"}),
}

PROBLEMS = {
    "alice.ipynb": r"",
    "bob.ipynb": r"",
    "01_event_loop.ipynb": r"",
    "dave.ipynb": r"",
    "erin.ipynb": r"",
    "frank.ipynb": r"the kernel died in cell \d+ \(exit code 1\); later cells did not run",
    "gina.ipynb": r"another lesson: 01, not the class's 00; graded on lesson 01's exercises",
    "henry.ipynb": r"not a notebook: JSON without a list of notebook cells",
    "ivy.ipynb": r"invalid JSON \(line \d+, column \d+\): .+",
    "jack.ipynb": r"empty file",
    "notes.txt": r"not a notebook: a \.txt file that is not JSON",
    "<em>mallory<em>.ipynb": r"invalid JSON \(line \d+, column \d+\): .+",
}


def test_every_cell_of_the_csv(classroom):
    folder, grades, _, _ = classroom
    table = read_csv(folder / "grades.csv")
    checks = ["ex00_bridge", "ex00_concurrent", "ex01_order", "ex01_yielding"]
    with open(folder / "grades.csv", newline="") as f:
        assert next(csv.reader(f)) == ["file", "lesson", *checks, "problem"]
    assert sorted(table) == sorted(EXPECTED)
    for name, (lesson, marks) in EXPECTED.items():
        got = table[name]
        assert got["lesson"] == lesson, name
        assert {c: got[c] for c in checks} == {c: marks.get(c, "") for c in checks}, name
        assert re.fullmatch(PROBLEMS[name], got["problem"]), (name, got["problem"])
    assert grades.lesson == "00"


def test_the_broken_cells_say_why(classroom):
    _, grades, _, _ = classroom
    rows = {row.file: row for row in grades.rows}
    assert "NameError" in rows["erin.ipynb"].marks["ex00_bridge"].message
    assert "did not run" in rows["frank.ipynb"].marks["ex00_bridge"].message
    assert rows["dave.ipynb"].marks["ex00_bridge"].message == "no cell calls this check"
    assert rows["01_event_loop.ipynb"].marks["ex00_concurrent"].message.startswith("hint")


def test_the_summary_counts_passes_and_names_the_common_hint(classroom):
    _, grades, _, _ = classroom
    summary = {s.check: s for s in grades.summaries}
    concurrent = summary["ex00_concurrent"]
    # alice, dave, frank pass; the renamed file and erin got the same hint; bob not answered;
    # five unreadable files missing
    assert (concurrent.graded, concurrent.passed) == (11, 3)
    assert concurrent.counts == {"pass": 3, "hint": 2, "not answered": 1, "error": 0, "missing": 5}
    assert concurrent.top_hint_count == 2 and concurrent.top_hint
    assert summary["ex01_order"].graded == 1


def test_the_learners_files_are_never_modified_and_nothing_is_left_running(classroom):
    folder, _, before, lines = classroom
    after = digest(folder)
    assert {k: v for k, v in after.items() if k not in ("grades.csv", "grades.html")} == before
    assert not grading_processes()
    assert len(lines) == len(EXPECTED) and all(line.startswith("[") for line in lines)


def test_the_html_page_is_self_contained_and_escaped(classroom):
    folder, _, _, _ = classroom
    page = (folder / "grades.html").read_text()
    assert "<em>mallory<em>" not in page and html.escape("<em>mallory<em>") in page
    assert not re.search(r"<(script|link)\b|src=|https?://", page)
    for name in EXPECTED:
        assert html.escape(name) in page
    assert "most common hint" in page


# --- time limits: a loop that stops when interrupted, one that does not, a slow notebook ---


@pytest.fixture(scope="module")
def loops(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loops")
    setup = "import asynclab\nimport asynclab.check as check"
    bridge = "print(check.ex00_bridge(lambda main: asynclab.run(main())))"
    # a child process that outlives the interrupt: it must be gone after grading
    child = ("import subprocess, sys\n"
             "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
             "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)', 'grade-child-marker'])")
    nbformat.write(tiny(setup, child, "while True:\n    pass", bridge), folder / "loop.ipynb")
    # ipykernel puts its own SIGINT handler back before each cell: ignore it in the same cell
    ignore = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    nbformat.write(tiny(setup, child, ignore, bridge), folder / "stuck.ipynb")
    return folder, grade_folder(folder, Limits(cell_timeout=5, notebook_timeout=90))


def test_a_loop_is_interrupted_and_the_notebook_goes_on(loops):
    folder, _ = loops
    row = read_csv(folder / "grades.csv")["loop.ipynb"]
    assert (row["ex00_bridge"], row["ex00_concurrent"]) == ("pass", "missing")
    assert row["problem"] == "cell 3 ran over 5 s and was interrupted"
    assert not grading_processes()  # the kernel shut down politely; its child was killed


def test_a_loop_that_ignores_the_interrupt_is_killed_with_its_children(loops):
    folder, _ = loops
    row = read_csv(folder / "grades.csv")["stuck.ipynb"]
    assert (row["ex00_bridge"], row["ex00_concurrent"]) == ("error", "missing")
    assert row["problem"] == ("cell 3 ran over 5 s and did not stop when interrupted: "
                              "kernel killed; later cells did not run")
    assert not grading_processes()


def test_a_notebook_over_its_bound_is_stopped(tmp_path):
    setup = "import asynclab\nimport asynclab.check as check"
    bridge = "print(check.ex00_bridge(lambda main: asynclab.run(main())))"
    nbformat.write(tiny(setup, *["import time\ntime.sleep(2)"] * 8, bridge), tmp_path / "slow.ipynb")
    grades = grade_folder(tmp_path, Limits(cell_timeout=4, notebook_timeout=6))
    row = read_csv(tmp_path / "grades.csv")["slow.ipynb"]
    assert row["ex00_bridge"] == "error"
    assert re.fullmatch(r"the notebook ran over 6 s; stopped (in|before) cell \d+", row["problem"])
    [slow] = grades.rows
    assert slow.seconds < 6 + 5 + 10  # the bound, the interrupt's grace, the shutdown
    assert not grading_processes()


def test_the_memory_limit_turns_a_huge_allocation_into_memory_error(tmp_path):
    with GradingKernel(tmp_path, memory_mb=2048) as kernel:
        big = kernel.execute("block = bytearray(3 * 2**30)", timeout=30)
        after = kernel.execute("print('still here')", timeout=30)
    assert (big.status, big.error.split(":")[0]) == ("error", "MemoryError")
    assert after.status == "ok"
    assert not grading_processes()


# --- the pure parts ---------------------------------------------------------------------


@pytest.mark.parametrize(("record", "status"), [
    ({"check": "ex00_bridge", "passed": True, "message": "pass: it ran"}, "pass"),
    ({"check": "ex00_bridge", "passed": False, "message": "hint: use gather"}, "hint"),
    ({"check": "ex00_bridge", "passed": False, "message": "not answered yet: write it"}, "not answered"),
    ({"check": "ex00_bridge", "passed": False, "message": "something else"}, "hint"),
    ({"check": "ex00_bridge", "raised": "KeyboardInterrupt: "}, "error"),
])
def test_a_recorded_verdict_gives_its_mark(record, status):
    assert mark_of_record(record).status == status


def test_marks_the_last_call_decides_and_a_broken_cell_is_an_error():
    from asynclab.grade.kernel import CellRun
    records = [{"check": "ex04_increment", "passed": False, "message": "not answered yet: x"},
               {"check": "ex04_increment", "passed": True, "message": "pass: locked"}]
    calls = {3: ["ex04_increment"], 5: ["ex04_prediction"], 7: ["ex04_store_agent"]}
    cells = {3: CellRun("ok"), 5: CellRun("error", "NameError: name 'p' is not defined")}
    marks = marks_for(LESSONS["04"], calls, records, cells)
    assert marks["ex04_increment"] == Mark("pass", "pass: locked")
    assert marks["ex04_prediction"].status == "error" and "NameError" in marks["ex04_prediction"].message
    assert marks["ex04_store_agent"].status == "error"  # cell 7 never ran
    assert marks_for(["ex04_prediction"], {}, [], {})["ex04_prediction"].status == "missing"
    commented = marks_for(["ex04_prediction"], {5: ["ex04_prediction"]}, [], {5: CellRun("ok")})
    assert commented["ex04_prediction"].status == "missing"


def test_the_lesson_comes_from_the_content_not_the_name():
    nb = tiny("print(check.ex04_increment(f))", title="# 04 · Race conditions")
    assert lesson_of(nb, LESSONS) == ("04", {1: ["ex04_increment"]})
    untitled = tiny("check.ex05_retry(r)\ncheck.ex05_collect(c)", "check.ex04_increment(f)",
                    title="Some notes")
    assert lesson_of(untitled, LESSONS)[0] == "05"
    assert lesson_of(tiny("x = 1", title="# 42 · Nothing"), LESSONS) == (None, {})
    assert set(LESSONS["04"]) == {n for n in check.__all__ if n.startswith("ex04_")}


def test_the_second_capstone_notebook_is_its_own_lesson():
    # 08b's exercise is graded as 08b's, not as one of part one's columns (ex08_charge, ...).
    assert LESSONS["08b"] == ["ex08b_polite"] and "ex08b_polite" not in LESSONS["08"]
    part2 = tiny("print(check.ex08b_polite(polite_complete))",
                 title="# 08b · Capstone, part 2: the model API under load")
    assert lesson_of(part2, LESSONS) == ("08b", {1: ["ex08b_polite"]})
    untitled = tiny("check.ex08b_polite(p)", title="notes")
    assert lesson_of(untitled, LESSONS)[0] == "08b"
    assert lesson_of(tiny("x = 1", title="# 08 · Capstone"), LESSONS)[0] == "08"
    assert lesson_of(tiny("x = 1", title="# 08c · Nothing"), LESSONS)[0] is None
    assert parse_lesson("8b", list(LESSONS)) == parse_lesson("08B", list(LESSONS)) == "08b"
    assert parse_lesson("8", list(LESSONS)) == "08"
    with pytest.raises(ValueError, match="lesson .--lesson. must be one of 00, 01, .*08, 08b"):
        parse_lesson("8c", list(LESSONS))


@pytest.mark.parametrize(("content", "name", "problem"), [
    (b"", "a.ipynb", "empty file"),
    (b"  \n", "a.ipynb", "empty file"),
    (b'{"cells": [', "a.ipynb", "invalid JSON (line 1, column 12): Expecting value"),
    (b"\xff\xfe\x00", "a.ipynb", "not a notebook: not UTF-8 text (a binary file?)"),
    (b"[1, 2]", "a.ipynb", "not a notebook: JSON without a list of notebook cells"),
    (b"print('hi')", "a.py", "not a notebook: a .py file that is not JSON"),
    (b'{"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "a.ipynb", "not a valid notebook: "),
    (nbformat.writes(tiny("x = 1", title="hello")).encode(), "a.ipynb",
     "not a lesson notebook: no '# NN · Title' heading of a lesson and no exercise check called"),
])
def test_an_unreadable_file_becomes_a_problem_not_an_exception(tmp_path, content, name, problem):
    path = tmp_path / name
    path.write_bytes(content)
    said = read_submission(path, LESSONS).problem
    assert said.startswith(problem) if problem.endswith(": ") else said == problem


def test_shorten_and_hint_key():
    assert shorten("a  b\nc") == "a b c"
    long = "word " * 40
    assert len(shorten(long, 50)) <= 50 and shorten(long, 50).endswith("…")
    assert hint_key("hint: took 201 ms, not 100.5 ms") == "took N ms, not N ms"
    assert hint_key("Hint:  took 3 ms") == hint_key("hint: took 7 ms")


def test_summary_counts_and_picks_the_most_common_hint():
    rows = [Row("a", "00", {"ex00_bridge": Mark("hint", "hint: took 201 ms")}),
            Row("b", "00", {"ex00_bridge": Mark("hint", "hint: took 199 ms")}),
            Row("c", "00", {"ex00_bridge": Mark("hint", "hint: use asynclab.run")}),
            Row("d", "00", {"ex00_bridge": Mark("pass", "pass")}),
            Row("e", "01", {"ex01_order": Mark("missing")})]
    [bridge] = summarize(rows, ["ex00_bridge"])
    assert (bridge.graded, bridge.passed, bridge.counts["hint"]) == (4, 1, 3)
    assert (bridge.top_hint, bridge.top_hint_count) == ("took N ms", 2)
    [order] = summarize(rows, ["ex01_order"])
    assert (order.graded, order.passed, order.top_hint) == (1, 0, "")


def test_csv_keeps_learners_text_inert(tmp_path):
    rows = [Row("=HYPERLINK(\"x\").ipynb", "00", {"ex00_bridge": Mark("pass")}, problem="a, \"b\"\nc")]
    write_csv(tmp_path / "g.csv", rows, ["ex00_bridge"])
    [row] = read_csv(tmp_path / "g.csv").values()
    assert row == {"file": "'=HYPERLINK(\"x\").ipynb", "lesson": "00", "ex00_bridge": "pass",
                   "problem": "a, \"b\"\nc"}
    assert csv_safe("-1") == "'-1" and csv_safe("alice") == "alice"


def test_html_escapes_every_learner_text():
    evil = "<img src=x onerror=alert(1)>"
    rows = [Row(evil + ".ipynb", "00", {"ex00_bridge": Mark("hint", "hint: " + evil)}, problem=evil)]
    page = render_html(rows, ["ex00_bridge"], summarize(rows, ["ex00_bridge"]), title=evil)
    assert "<img" not in page
    assert page.count(html.escape(evil)) >= 4


def test_the_probe_records_each_call_and_can_be_undone(tmp_path):
    original = check.ex00_bridge
    records = tmp_path / "records.jsonl"
    restore = install(str(records))
    try:
        assert check.ex00_bridge is not original
        check.ex00_bridge(None)
        from asynclab.check.ex00 import ex00_bridge
        ex00_bridge(42)
    finally:
        restore()
    assert check.ex00_bridge is original
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    assert [(r["check"], r["passed"], r["message"].split(":")[0]) for r in lines] == [
        ("ex00_bridge", False, "not answered yet"), ("ex00_bridge", False, "hint")]


# --- arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"cell_timeout": 0}, "cell_timeout (--cell-timeout) must be a number of seconds from 1 to 3600"),
    ({"cell_timeout": "soon"}, "cell_timeout (--cell-timeout) must be a number of seconds"),
    ({"cell_timeout": float("nan")}, "cell_timeout (--cell-timeout)"),
    ({"cell_timeout": True}, "cell_timeout (--cell-timeout)"),
    ({"notebook_timeout": -5}, "notebook_timeout (--notebook-timeout) must be a number of seconds"),
    ({"cell_timeout": 100, "notebook_timeout": 50}, "must not be longer than notebook_timeout"),
    ({"memory_mb": 100}, "memory_mb (--memory-mb) must be a whole number of MiB from 1024"),
    ({"memory_mb": "2g"}, "memory_mb (--memory-mb) must be a whole number of MiB"),
    ({"memory_mb": 2048.5}, "memory_mb (--memory-mb)"),
])
def test_bad_limits_are_refused_with_what_is_allowed(kwargs, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        Limits(**kwargs)


def test_limits_accept_text_and_zero_memory():
    assert Limits("30", "90", "0") == Limits(30.0, 90.0, 0)


def test_bad_arguments_stop_the_command_before_any_work(tmp_path, capsys):
    (tmp_path / "a.ipynb").write_bytes(NB00.read_bytes())
    for argv, said in [([str(tmp_path / "nowhere")], "folder must be an existing directory"),
                       ([str(tmp_path), "--cell-timeout", "abc"], "--cell-timeout"),
                       ([str(tmp_path), "--memory-mb", "12"], "--memory-mb"),
                       ([str(tmp_path), "--lesson", "99"], "lesson (--lesson) must be one of 00, 01")]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
        assert said in capsys.readouterr().err
    assert not (tmp_path / "grades.csv").exists()
