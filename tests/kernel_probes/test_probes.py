"""The kernel probes, exercised in this process: the leak check sees what it must see and
nothing once it is gone, and every cell the harness builds compiles as a notebook cell."""

from __future__ import annotations

import ast
import asyncio
import threading

import pytest
from kernel_harness import baseline_cell, leak_check_cell, sweep_cell

from kernel_probes.baseline import _reliability_baseline
from kernel_probes.leak_check import _reliability_leaks


@pytest.mark.timeout(30)
def test_the_leak_check_finds_a_new_thread_and_task_and_nothing_once_they_end():
    async def check():
        base = _reliability_baseline()
        assert await _reliability_leaks([], base, settle=0) == {}
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait, name="probe-test-worker")
        worker.start()
        sleeper = asyncio.create_task(asyncio.sleep(30))
        try:
            during = await _reliability_leaks([], base, settle=0.1)
        finally:
            stop.set()
            worker.join()
            sleeper.cancel()
        after = await _reliability_leaks([], base, settle=2.0)
        return during, after

    during, after = asyncio.run(check())
    assert sorted(during) == ["tasks", "threads"], during
    assert [t.split(" ")[0] for t in during["threads"]] == ["probe-test-worker"], during
    assert len(during["tasks"]) == 1 and "sleep" in during["tasks"][0], during
    assert after == {}, after


@pytest.mark.parametrize("cell", [baseline_cell(), leak_check_cell([1, 2]), sweep_cell(20)],
                         ids=["baseline", "leak_check", "sweep"])
def test_each_probe_cell_compiles_as_a_notebook_cell(cell):
    # Top-level await, as IPython allows it in a cell.
    compile(cell, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
