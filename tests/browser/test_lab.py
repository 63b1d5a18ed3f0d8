"""Every notebook, run the way a learner runs it: "Run All" in a real JupyterLab, in chromium.

Some failures only show in a real browser: with the original nest_asyncio, "Run All" in a
real JupyterLab leaves every later cell at ``[*]``; nbval and nbclient do not see it,
because they send one cell at a time. So for each notebooks/*.ipynb this test:

1. opens it in JupyterLab and waits for its kernel to be idle;
2. clicks Run > Run All Cells and waits until no prompt shows ``[*]``, every code cell has
   run and the kernel is idle (a hang fails the test, naming the stuck cells);
3. checks that no cell shows an error (error outputs, tracebacks on stderr, "Error
   displaying widget" / "model not found"), and that every widget output is rendered;
4. moves one slider (if there is one) and checks that its panel's output or figure
   changes, without errors; a notebook with widget panels but no slider fails;
5. runs all again in the same kernel (learners re-run) and checks 2-3 again;
6. saves a screenshot of the whole notebook to artifacts/browser/<notebook>.png, plus a
   <notebook>.json with timings and browser console errors (also when the test fails).

Cells tagged ``raises-exception`` may show an error (JupyterLab's own convention for a
cell that is meant to fail: "Run All" goes on after it).

See conftest.py for the server and browser fixtures and the environment variables.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse

import pytest
from waiting import wait_for

from .conftest import (
    ARTIFACTS_DIR,
    CHROMIUM,
    ENABLE_HINT,
    IN_CI,
    NOTEBOOKS_DIR,
    find_notebooks,
    load_js,
)

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:
    PlaywrightError = None

if not IN_CI and (PlaywrightError is None or not CHROMIUM or not os.path.exists(CHROMIUM)):
    pytest.skip(
        f"browser tests need chromium and playwright: {ENABLE_HINT}; with CI=true they fail",
        allow_module_level=True,
    )

pytestmark = pytest.mark.browser

RUN_TIMEOUT = float(os.environ.get("ASYNCLAB_BROWSER_RUN_TIMEOUT", "120"))  # one "Run All"
READY_TIMEOUT = 60.0  # notebook loaded and kernel idle
SLIDER_TIMEOUT = 30.0  # the panel reacts to the slider
STALL_TIMEOUT = 15.0  # kernel idle but cells still queued at [*]: a hang
TEST_TIMEOUT = int(2 * RUN_TIMEOUT + READY_TIMEOUT + SLIDER_TIMEOUT + 60)
POLL = 0.25
TRACEBACK_LINES = 40  # the end of each traceback goes into the failure message
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# --- JavaScript run in the page (window.jupyterapp needs --LabApp.expose_app_in_browser) ---

STATE_JS = load_js("state")  # (path) => the kernel status, any dialog, every cell's state
PROBLEMS_JS = load_js("problems")  # (path) => the errors a learner would see in the outputs
MARK_SLIDER_JS = load_js("mark_slider")  # (path) => the first usable slider, marked
PANEL_SIGNATURE_JS = load_js("panel_signature")  # () => what the marked panel shows
SLIDER_VALUE_JS = load_js("slider_value")  # () => the marked slider's value
NOTEBOOK_HEIGHT_JS = load_js("notebook_height")  # () => the window height for a screenshot


# --- helpers -----------------------------------------------------------------------------


def _state(page, path: str) -> dict:
    return page.evaluate(STATE_JS, path)


def _code_cells(state: dict) -> list[dict]:
    return [c for c in state["cells"] if c["type"] == "code" and not c["empty"]]


def _wait_ready(page, path: str) -> dict:
    """Wait until the notebook is loaded and its kernel idle; accept a kernel dialog if any."""
    last: dict = {"state": {}, "dialog": None}

    def ready() -> bool:
        state = last["state"] = _state(page, path)
        if state.get("dialog"):
            last["dialog"] = state["dialog"]
            accept = page.locator(".jp-Dialog .jp-mod-accept")
            if accept.count():
                accept.first.click()
            return False
        if state.get("ready") and state["status"] == "dead":
            pytest.fail(f"the kernel of {path} is {state['status']}", pytrace=False)
        return bool(state.get("ready")) and state["status"] == "idle"

    if wait_for(ready, READY_TIMEOUT, every=POLL):
        return last["state"]
    state, dialog_seen = last["state"], last["dialog"]
    pytest.fail(
        f"{path} not ready within {READY_TIMEOUT:.0f} s: "
        f"{state.get('why') or 'kernel ' + str(state.get('status'))}"
        + (f"; dialog: {dialog_seen!r}" if dialog_seen else ""),
        pytrace=False,
    )


def _run_all(page) -> str:
    """Run > Run All Cells, as a learner does; the command only if the menu fails."""
    try:
        page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=5000)
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=5000)
        return "menu"
    except PlaywrightError:
        page.keyboard.press("Escape")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return "command"


def _wait_run_finished(page, path: str, baseline: int) -> dict:
    """Wait until every non-empty code cell ran after ``baseline`` (or the run stopped at an
    error), no prompt shows [*], and the kernel is idle: twice in a row."""
    start = time.monotonic()
    deadline = start + RUN_TIMEOUT
    state: dict = {}
    settled = 0
    stalled_since = None  # kernel idle while cells wait at [*]: nothing will ever run them
    why = f"Run All did not finish within {RUN_TIMEOUT:.0f} s"
    while time.monotonic() < deadline:
        state = _state(page, path)
        if state.get("ready"):
            code = _code_cells(state)
            busy = [c for c in code if "*" in c["prompt"] or c.get("running")]
            ran = [c for c in code if c["count"] is not None and c["count"] > baseline]
            stopped = any(c["errors"] for c in ran)
            idle = state["status"] == "idle"
            if idle and not busy and (len(ran) == len(code) or stopped):
                settled += 1
                if settled >= 2:
                    return state
            else:
                settled = 0
            if state["status"] == "dead":
                pytest.fail(f"the kernel died while running {path}", pytrace=False)
            if idle and busy:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > STALL_TIMEOUT:
                    why = (
                        f"Run All hangs: the kernel has been idle for {STALL_TIMEOUT:.0f} s "
                        "while cells still wait at [*] (the original nest_asyncio does this)"
                    )
                    break
            else:
                stalled_since = None
        time.sleep(POLL)
    if not state.get("ready"):
        pytest.fail(f"{path}: {why}: {state.get('why')}", pytrace=False)
    code = _code_cells(state)
    busy = [c["i"] for c in code if "*" in c["prompt"] or c.get("running")]
    not_run = [c["i"] for c in code if c["count"] is None or c["count"] <= baseline]
    try:
        seen = _problems(page, path, state)
    except PlaywrightError:
        seen = []
    pytest.fail(
        f"{path}: {why} (after {time.monotonic() - start:.0f} s); kernel {state['status']}; "
        f"cells still [*]: {busy}; cells not run: {not_run}" + "".join(f"\n  {p}" for p in seen),
        pytrace=False,
    )


def _problems(page, path: str, state: dict) -> list[str]:
    problems = []
    for c in _code_cells(state):
        if c["errors"] and "raises-exception" not in c["tags"]:
            for e in c["errors"]:
                tb = ANSI.sub("", e["traceback"]).strip().splitlines()
                problems.append(
                    f"cell {c['i']}: raised {e['error']}\n    "
                    + "\n    ".join(tb[-TRACEBACK_LINES:])
                )
    # The DOM check also sees errors the cell model does not hold (inside Output widgets).
    reported = {f"cell {c['i']}:" for c in _code_cells(state) if c["errors"]}
    dom = page.evaluate(PROBLEMS_JS, path)
    return problems + [p for p in dom if p.split(" error output")[0] not in reported]


def _check_clean(page, path: str, state: dict, when: str) -> None:
    problems = _problems(page, path, state)
    if problems:
        pytest.fail(f"{path} ({when}):\n  " + "\n  ".join(problems), pytrace=False)


def _exercise_slider(page, path: str) -> str:
    marked = page.evaluate(MARK_SLIDER_JS, path)
    chosen, widget_cells = marked["chosen"], marked["widgetCells"]
    if chosen is None:
        if widget_cells:
            pytest.fail(
                f"{path}: widget panel(s) in cells {widget_cells} but no slider to move",
                pytrace=False,
            )
        return "no widget panel"
    cell = chosen["cell"]
    before = page.evaluate(PANEL_SIGNATURE_JS)
    value = page.evaluate(SLIDER_VALUE_JS)
    handle = page.locator("[data-asynclab-slider] .noUi-handle").first
    seen = [value]

    def moved() -> bool:
        seen[0] = page.evaluate(SLIDER_VALUE_JS)
        return bool(seen[0]) and seen[0] != value

    for key in ("ArrowRight", "ArrowLeft"):  # ArrowLeft if the slider was at its maximum
        handle.focus()
        page.keyboard.press(key)
        if wait_for(moved, 3.0, every=POLL):
            break
    new_value = seen[0]
    if not new_value or new_value == value:
        pytest.fail(
            f"{path}: the slider {chosen['label']!r} in cell {cell} did not move "
            f"(value {value}) with ArrowRight/ArrowLeft",
            pytrace=False,
        )
    changed = wait_for(
        lambda: page.evaluate(PANEL_SIGNATURE_JS) != before, SLIDER_TIMEOUT, every=POLL
    )
    if not changed:
        pytest.fail(
            f"{path}: moving the slider {chosen['label']!r} in cell {cell} "
            f"({value} -> {new_value}) did not change its panel within {SLIDER_TIMEOUT:.0f} s",
            pytrace=False,
        )

    # Let the update finish: kernel idle and the panel unchanged over two polls.
    last = [None]

    def settled():
        sig = page.evaluate(PANEL_SIGNATURE_JS)
        idle = _state(page, path).get("status") == "idle"
        same, last[0] = sig == last[0], sig
        return idle and same

    wait_for(settled, SLIDER_TIMEOUT, every=POLL)
    return f"cell {cell}: slider {chosen['label']!r} {value} -> {new_value}, panel changed"


def _screenshot(page, png) -> None:
    """The whole notebook: make the window as tall as the notebook, then shoot."""
    try:
        page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.collapseLeft()")
        page.wait_for_timeout(200)
        height = page.evaluate(NOTEBOOK_HEIGHT_JS) or 0
        page.set_viewport_size({"width": 1280, "height": int(min(max(900, height), 16000))})
        page.wait_for_timeout(500)
        page.evaluate(NOTEBOOK_HEIGHT_JS)  # back to the top after the resize
        page.wait_for_timeout(200)
        # Bytes, written here: screenshot(path=...) writes from a thread pool that outlives it.
        png.write_bytes(page.screenshot(full_page=True, timeout=30_000))
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


# --- the tests -----------------------------------------------------------------------------


def test_there_are_notebooks():
    if not find_notebooks():
        message = f"no notebooks in {NOTEBOOKS_DIR}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


@pytest.mark.timeout(TEST_TIMEOUT, method="signal")
def test_notebook_runs_in_jupyterlab(notebook, lab_page):
    page, server = lab_page.page, lab_page.server
    path = notebook.name  # relative to the server's root (a copy of the notebooks dir)
    report: dict = {"notebook": path, "timings_s": {}, "steps": []}
    t0 = time.monotonic()

    def lap(name: str) -> None:
        report["timings_s"][name] = round(time.monotonic() - t0, 2)

    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(
            f"{server.url}/lab/tree/{urllib.parse.quote(path)}?reset&token={server.token}",
            wait_until="domcontentloaded",
            timeout=READY_TIMEOUT * 1000,
        )
        _wait_ready(page, path)
        lap("kernel idle")

        report["steps"].append("run all 1 via " + _run_all(page))
        state = _wait_run_finished(page, path, baseline=0)
        lap("run all 1 finished")
        _check_clean(page, path, state, "after Run All")

        report["steps"].append(_exercise_slider(page, path))
        lap("slider checked")
        _check_clean(page, path, _state(page, path), "after moving the slider")

        baseline = max((c["count"] or 0) for c in _code_cells(state)) if _code_cells(state) else 0
        report["steps"].append("run all 2 via " + _run_all(page))
        state = _wait_run_finished(page, path, baseline=baseline)
        lap("run all 2 finished")
        _check_clean(page, path, state, "after the second Run All in the same kernel")
    finally:
        try:
            _screenshot(page, ARTIFACTS_DIR / f"{notebook.stem}.png")
            lap("screenshot")
        except Exception as exc:  # never hide the real failure behind a screenshot problem
            report["screenshot_error"] = repr(exc)
        report["browser_console_errors"] = lab_page.console_errors
        (ARTIFACTS_DIR / f"{notebook.stem}.json").write_text(json.dumps(report, indent=2))
