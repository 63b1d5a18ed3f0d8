"""Execute notebooks top to bottom in a fresh kernel and save them with their outputs.

    python tools/execute_notebooks.py [notebooks/NN_name.ipynb ...]   (default: all)

Each notebook is first synced with its text source (notebooks/NN_name.md, see
jupytext.toml): the newer of the two files gives the cells, as `jupytext --sync` does, so
an edited .md is what runs. A .md path is accepted in place of its .ipynb.

Widget state is stored, so learners see the panels' figures before running anything.
What is saved is kept quiet for review: no execution timings, the widget model ids
renumbered deterministically (they are random UUIDs in every run), and the outputs of
cells tagged `solution` removed (they still run, in order, and assert that the check
passes; their execution count is kept). Refuses to save a notebook whose outputs contain
an error or a path of this machine.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from pathlib import Path

import nbformat
from hygiene import machine_paths
from jupytext.cli import jupytext as jupytext_cli
from kernel_waits import slice_client_waits
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION_TAG = "solution"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The namespace of the saved widget model ids (any fixed UUID would do).
WIDGET_ID_NAMESPACE = uuid.UUID("5d1b5c6e-3f0a-4c55-9a43-6173796e636c")


def sync(path: Path) -> None:
    """`jupytext --sync` on the pair of `path`: the newer file's cells go into the other
    (a new notebook is made from its .md)."""
    source = path if path.exists() else path.with_suffix(".md")
    if jupytext_cli(["--sync", "--quiet", str(source)]):
        raise SystemExit(f"jupytext --sync {source.name} failed")


def stable_widget_ids(nb, name: str) -> int:
    """Replace the random widget model ids by uuid5(name, order of first appearance).

    The order is that of the outputs (cell by cell), each model followed by the models it
    refers to ("IPY_MODEL_<id>" in its state), then any model not reached that way, in the
    saved order. The new ids replace the old ones everywhere: the state's keys, the
    references between models, and every output's widget view (also inside Output
    widgets). Returns the number of models renamed.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    if not state:
        return 0
    old_ids = list(state)
    pattern = re.compile("|".join(re.escape(i) for i in old_ids))
    order: list[str] = []

    def visit(model_id: str) -> None:
        if model_id in order or model_id not in state:
            return
        order.append(model_id)
        for ref in pattern.findall(json.dumps(state[model_id], sort_keys=True)):
            visit(ref)

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for ref in pattern.findall(json.dumps(out.get("data", {}), sort_keys=True)):
                visit(ref)
    for model_id in old_ids:
        visit(model_id)
    new = {old: uuid.uuid5(WIDGET_ID_NAMESPACE, f"{name}:{i}").hex for i, old in enumerate(order)}

    def rename(value):
        if isinstance(value, str):
            return pattern.sub(lambda m: new[m.group(0)], value)
        if isinstance(value, dict):
            return {rename(k): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    nb.metadata["widgets"] = nbformat.from_dict(rename(nb.metadata["widgets"]))
    for cell in nb.cells:
        if "outputs" in cell:
            cell.outputs = nbformat.from_dict(rename(cell.outputs))
    return len(new)


def quiet(nb, name: str) -> None:
    """Drop what changes from run to run without meaning anything (see the module doc)."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.outputs = []
    stable_widget_ids(nb, name)


def execute(path: Path) -> float:
    sync(path)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
        record_timing=False, store_widget_state=True,
    )
    client.on_notebook_start = lambda **_: slice_client_waits(client)  # see kernel_waits
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
    quiet(nb, path.stem)
    nbformat.write(nb, path)
    sync(path)  # the inputs did not change: this only confirms the text source matches
    return took


def all_notebooks() -> list[Path]:
    """Every notebook, and every text source that has no notebook yet."""
    sources = [*NOTEBOOKS.glob("*.ipynb"), *NOTEBOOKS.glob("[0-9][0-9]*_*.md")]
    return sorted({p.with_suffix(".ipynb") for p in sources})


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve().with_suffix(".ipynb") for a in argv] or all_notebooks()
    for path in paths:
        print(f"{path.name}: executed in {execute(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
