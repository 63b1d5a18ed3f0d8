"""Execute notebooks top to bottom in a fresh kernel and save them with their outputs.

    python tools/execute_notebooks.py [notebooks/NN_name.ipynb ...]   (default: all)

Widget state is stored, so learners see the panels' figures before running anything.
Refuses to save a notebook whose outputs contain an error or a path of this machine.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from hygiene import machine_paths
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
        record_timing=False, store_widget_state=True,
    )
    client.execute()
    took = time.perf_counter() - start
    paths = machine_paths()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                raise SystemExit(f"{path.name} cell {i}: {out['ename']}: {out['evalue']}")
            m = paths.search(json.dumps(out))
            if m:
                raise SystemExit(f"{path.name} cell {i}: output shows a machine path {m.group(0)!r}")
    nbformat.write(nb, path)
    return took


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: executed in {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
