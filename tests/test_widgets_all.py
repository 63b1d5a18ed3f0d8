"""Every control of every ``asynclab.Panel`` in every notebook, at its minimum, default and
maximum (every option of a dropdown, both values of a checkbox), in a real kernel.

Notebooks are found when the tests are collected, so a new notebook is covered at once.
Each notebook runs top to bottom in a fresh kernel; then, in that kernel, each panel is
re-run with one control changed at a time (the default last, which restores it), each
run timed against ``kernel_harness.SWEEP_RUN_BOUND``. The kernel is shared with the leak
and rerun tests of tests/test_reliability.py.
"""

from __future__ import annotations

import pytest
from kernel_harness import SWEEP_RUN_BOUND, first_run, notebook_paths

NOTEBOOKS = notebook_paths()


@pytest.mark.timeout(600)  # runs the notebook too, unless a test of test_reliability.py did
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_widget_value_runs_within_its_bound(path):
    run = first_run(path)
    assert run.error is None, f"{path.name} failed before its widgets were tried: {run.error}"
    sweep = run.sweep
    failures = "\n".join(
        f"  {f['panel']}.{f['control']} = {f['value']}: {f['error']}" for f in sweep["failures"]
    )
    assert not sweep["failures"], f"{path.name}: widget runs failed\n{failures}"
    cases = sweep["cases"]
    if cases:
        slowest = max(cases, key=lambda c: c["seconds"])
        assert slowest["seconds"] <= SWEEP_RUN_BOUND
        print(f"{path.name}: {len(sweep['panels'])} panel(s), {len(cases)} runs in "
              f"{run.sweep_seconds:.1f} s; slowest {slowest['panel']}.{slowest['control']} = "
              f"{slowest['value']} in {slowest['seconds']:.2f} s")
    else:
        print(f"{path.name}: no asynclab.Panel")
