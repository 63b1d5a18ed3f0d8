"""Build notebooks/NAME.ipynb from a percent-format draft (a quick way to write a new one).

    python tools/build_notebook.py DRAFT.py [DRAFT.py ...]

A draft is Python with cells separated by ``# %%`` lines; ``# %% [markdown]`` starts a
Markdown cell (its lines start with ``# ``); tags go after the marker:
``# %% tags=["nbval-ignore-output"]``. Cells tagged ``solution`` or ``hide-input`` are
saved collapsed. After building, run ``python tools/execute_notebooks.py notebooks/NAME.ipynb``.
Once built, the notebook is the source: edit it in JupyterLab, then ``make notebooks``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat as nbf

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def build(draft: Path) -> Path:
    parts = re.split(r"^# %%(.*)$", draft.read_text(), flags=re.M)
    cells = []
    for header, body in zip(parts[1::2], parts[2::2], strict=True):
        body = body.strip("\n")
        tags = re.findall(r'"([^"]+)"', header.split("tags=")[1]) if "tags=" in header else []
        if "[markdown]" in header:
            lines = [ln[2:] if ln.startswith("# ") else ln[1:] if ln.startswith("#") else ln
                     for ln in body.splitlines()]
            cell = nbf.v4.new_markdown_cell("\n".join(lines))
        else:
            cell = nbf.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        if "hide-input" in tags or "solution" in tags:
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
        cells.append(cell)
    nb = nbf.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i:03d}"
    out = NOTEBOOKS / f"{draft.stem}.ipynb"
    nbf.write(nb, out)
    return out


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print("built", build(Path(arg)).name)
