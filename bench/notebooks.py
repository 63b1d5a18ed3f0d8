"""Notebook timings: each notebook's Run All in a fresh kernel (nothing saved), one
re-run of each ``asynclab.Panel`` at its defaults, and the whole nbval suite."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# Run in the kernel after the notebook: time panel.run() for every Panel in its namespace.
_PANEL_PROBE = """
import json as _json, time as _time
import asynclab.widgets as _aw
_found = {}
for _name, _value in list(globals().items()):
    if isinstance(_value, _aw.Panel) and not _name.startswith("_"):
        _runs = []
        for _ in range(%d):
            _t0 = _time.perf_counter()
            _value.run()
            _runs.append(_time.perf_counter() - _t0)
        _found[_name] = _runs
print("PANEL_TIMES " + _json.dumps(_found))
"""


def run_notebook(path: Path, panel_runs: int = 3, timeout: int = 120) -> dict:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    with client.setup_kernel():
        # As NotebookClient.execute does: wait for the kernel to answer before the first
        # cell (without this, a top-level ``await`` in an early cell can be a SyntaxError).
        client.wait_for_reply(client.kc.kernel_info())
        t_kernel = time.perf_counter() - t0
        t1 = time.perf_counter()
        error = None
        for index, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as exc:
                error = f"cell {index} raised {getattr(exc, 'ename', type(exc).__name__)}"
                break
            except Exception as exc:  # a cell past the timeout, or a dead kernel
                error = f"cell {index}: {type(exc).__name__}"
                break
        run_all = time.perf_counter() - t1
        panels: dict[str, list[float]] = {}
        if error is None:
            probe = nbformat.v4.new_code_cell(_PANEL_PROBE % panel_runs)
            nb.cells.append(probe)
            client.execute_cell(probe, len(nb.cells) - 1)
            for out in probe.outputs:
                for line in out.get("text", "").splitlines():
                    if line.startswith("PANEL_TIMES "):
                        panels = json.loads(line[len("PANEL_TIMES "):])
    return {"notebook": path.name, "kernel_start_s": t_kernel, "run_all_s": run_all,
            "panels": panels, "error": error}


def notebook_times(panel_runs: int = 3) -> list[dict]:
    return [run_notebook(p, panel_runs) for p in sorted(NOTEBOOKS.glob("*.ipynb"))]


NBVAL_CMD = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "notebooks",
             "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
             "tests/nbval_sanitize.cfg"]


def nbval_suite() -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(NBVAL_CMD, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    lines = proc.stdout.strip().splitlines()
    tail = (lines or [""])[-1]
    failed = [line[len("FAILED "):].split(" - ")[0].replace("notebooks/", "")
              for line in lines if line.startswith("FAILED ")]
    if failed:
        tail += "; failed: " + ", ".join(failed)
    return {"seconds": elapsed, "returncode": proc.returncode, "summary": tail}
