"""machine_load: the CPU of our own processes (exited ones too) is never another program's,
and instruments note the load they ran under for check cells (during)."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from concurrent.futures import ThreadPoolExecutor

import asynclab
import psutil
import pytest
from asynclab import machine_load
from asynclab.cluster import per_task_ms

BURN_S = 0.2


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _burn_in_a_grandchild(seconds: float) -> None:
    child = mp.get_context("spawn").Process(target=_burn, args=(seconds,))
    child.start()
    child.join()


@pytest.mark.parametrize("target", [_burn, _burn_in_a_grandchild], ids=["child", "grandchild"])
def test_a_process_that_exits_inside_the_block_stays_ours(target):
    # Its CPU time moves into its parent's children times when it is waited for; before
    # the fix it vanished from ours, and other_programs() counted it as another program's.
    me = psutil.Process()
    ours0 = machine_load._our_cpu_s(me)
    proc = mp.get_context("spawn").Process(target=target, args=(BURN_S,))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 0
    assert machine_load._our_cpu_s(me) - ours0 >= 0.95 * BURN_S


async def _nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


def test_run_notes_the_load_under_the_coroutines_name():
    asynclab.run(_nap(0.02))
    asynclab.run(_nap(0.03))
    seen = machine_load.during("_nap")  # outside a notebook: every run noted under it
    assert seen.seconds >= 0.05 and 0 <= seen.cores
    assert seen.free == pytest.approx(asynclab.workloads.usable_cores() - seen.cores)


def test_per_task_ms_notes_its_load():
    with ThreadPoolExecutor(2) as pool:
        per_task_ms(pool, time.sleep, [0.01] * 4, rounds=2)
    assert machine_load.during("per_task_ms").seconds >= 0.04


def test_during_groups_by_the_latest_notebook_cell(monkeypatch):
    cell = iter([7, 7, 8])
    monkeypatch.setattr(machine_load, "_cell", lambda: next(cell))
    for seconds in (0.01, 0.01, 0.04):
        with machine_load.noted("grouped"):
            time.sleep(seconds)
    assert 0.04 <= machine_load.during("grouped").seconds < 0.06  # cell 8's run alone


def test_during_and_noted_reject_bad_labels():
    with pytest.raises(LookupError, match="nothing noted under 'never run'"):
        machine_load.during("never run")
    for bad in ("", None, 3):
        with pytest.raises(TypeError, match="label must be a non-empty string"):
            machine_load.during(bad)
        with pytest.raises(TypeError, match="label must be a non-empty string"):
            with machine_load.noted(bad):
                pass


def test_a_block_that_raises_is_not_noted():
    with pytest.raises(ValueError), machine_load.noted("raised"):
        raise ValueError("the experiment failed")
    with pytest.raises(LookupError, match="nothing noted under 'raised'"):
        machine_load.during("raised")
