"""Export every notebook as a static HTML page, for projecting in class or reading offline.

    python tools/export_html.py [--out DIR]   (default: _site/, which git ignores)

Each page is the full instructor version (solution cells included, marked "Solution"),
with the stored outputs and figures embedded as data URIs and the notebook's saved widget
state, so the panels render live when the browser can reach the widget manager on a CDN.
Offline, each panel shows a static copy of its last saved run (its status line and
figure) taken from that widget state, so no page needs the network to be read. Links
between notebooks point to the pages. Also writes `index.html` (every notebook, with its
title and time) and `INSTRUCTOR.html` from notebooks/INSTRUCTOR.md when it exists.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from pathlib import Path

import mistune
import nbformat
from hygiene import machine_paths
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# Added to every page: mark solutions; hide a panel's static copy once the live widget
# has rendered (the widget manager inserts a .widget-subarea where the view was).
EXTRA_CSS = """
<style type="text/css">
.celltag_solution { border-left: 4px solid #E69F00; }
.jp-Cell.celltag_solution::before {
  content: "Solution"; display: block; font-weight: bold; color: #A36A00; padding: 2px 6px;
}
.asynclab-static-panel { border: 1px dashed #999; padding: 6px; }
.asynclab-static-panel > .asynclab-note { color: #666; font-size: 90%; margin: 0 0 4px 0; }
.jp-OutputArea-child:has(.widget-subarea) ~ .jp-OutputArea-child .asynclab-static-panel {
  display: none;
}
</style>
"""


def title_of(nb) -> str:
    """The notebook's first heading, without its #s."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return ""


def minutes_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found = re.search(r"\*\*Time:\*\*\s*about\s+(\d+)\s*minutes", cell.source)
            if found:
                return found.group(1)
    return ""


def _static_outputs(outputs: list[dict]) -> list[str]:
    parts = []
    for out in outputs:
        data = out.get("data", {})
        if "image/png" in data:
            png = "".join(data["image/png"]).replace("\n", "")
            parts.append(f'<img src="data:image/png;base64,{png}" alt="the panel\'s figure"/>')
        elif "text/html" in data:
            parts.append("".join(data["text/html"]))
        elif "text/plain" in data:
            parts.append(f"<pre>{html.escape(''.join(data['text/plain']))}</pre>")
        elif out.get("output_type") == "stream":
            parts.append(f"<pre>{html.escape(''.join(out.get('text', '')))}</pre>")
    return parts


def static_panel(model_id: str, state: dict) -> str:
    """What a saved panel shows, as plain HTML: its HTML labels, control values and the
    outputs of its Output widgets (the figure), walking containers in order; "" for a
    widget with no Output widget inside."""
    parts: list[str] = []
    controls: list[str] = []
    outputs = 0

    def walk(mid: str) -> None:
        nonlocal outputs
        model = state.get(mid)
        if model is None:
            return
        name, s = model.get("model_name", ""), model.get("state", {})
        if name == "OutputModel":
            outputs += 1
            parts.extend(_static_outputs(s.get("outputs", [])))
        elif name in ("HTMLModel", "HTMLMathModel") and s.get("value"):
            parts.append(f"<div>{s['value']}</div>")
        elif "value" in s and "description" in s:
            value = s["value"]
            if "_options_labels" in s and isinstance(value, int) and not isinstance(value, bool):
                labels = s["_options_labels"]
                value = labels[value] if 0 <= value < len(labels) else value
            controls.append(f"{html.escape(str(s['description']))} = {html.escape(str(value))}")
        for child in s.get("children", []):
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                walk(child[len("IPY_MODEL_"):])

    walk(model_id)
    if not outputs:  # not a panel (a progress bar, say): nothing a reader would miss
        return ""
    note = "A static copy of the panel's last saved run"
    if controls:
        note += f" ({'; '.join(controls)})"
    note += ". Run the notebook to move the controls."
    return (f'<div class="asynclab-static-panel"><p class="asynclab-note">{note}</p>'
            + "".join(parts) + "</div>")


def add_static_panels(nb) -> int:
    """After each widget view output, add a static copy of what it showed; return how many."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    added = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            outputs.append(out)
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view and state:
                copy = static_panel(view.get("model_id", ""), state)
                if copy:
                    outputs.append(nbformat.v4.new_output(
                        "display_data", data={"text/html": copy}))
                    added += 1
        cell.outputs = outputs
    return added


def link_pages(text: str, names: set[str]) -> str:
    """Point links to sibling notebooks (href="01_event_loop.ipynb#x") at their pages."""
    def swap(m: re.Match[str]) -> str:
        if m.group(1) + ".ipynb" not in names:
            return m.group(0)
        return f'href="{m.group(1)}.html{m.group(2) or ""}"'
    return re.sub(r'href="([\w.-]+)\.ipynb(#[^"]*)?"', swap, text)


def export_notebook(path: Path, exporter: HTMLExporter, names: set[str]) -> tuple[str, str]:
    """(title, html) of one notebook."""
    nb = nbformat.read(path, as_version=4)
    title = title_of(nb) or path.stem
    nb.metadata["title"] = title
    add_static_panels(nb)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    body = body.replace("</head>", EXTRA_CSS + "</head>", 1)
    return title, link_pages(body, names)


def page(title: str, content: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1.0"/>
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
code, pre {{ background: #f4f4f4; }}
pre {{ padding: 6px; overflow-x: auto; }}
</style>
</head>
<body>
{content}
</body>
</html>
"""


def index_page(entries: list[tuple[str, str, str]], has_guide: bool) -> str:
    rows = "\n".join(
        f'<tr><td><a href="{html.escape(href)}">{html.escape(title)}</a></td>'
        f"<td>{f'about {minutes} min' if minutes else ''}</td></tr>"
        for href, title, minutes in entries)
    guide = ('<p>For instructors: <a href="INSTRUCTOR.html">the instructor guide</a>.</p>'
             if has_guide else "")
    return page("Async Agents Lab", f"""<h1>Async Agents Lab</h1>
<p>The notebooks, executed, with their figures and the solutions to the exercises. Run them
live with <code>make lab</code>; the panels' sliders need a running kernel.</p>
{guide}
<table>
<tr><th>notebook</th><th>time</th></tr>
{rows}
</table>""")


def export_site(out: Path, sources: list[Path] | None = None) -> list[Path]:
    """Write one page per notebook, index.html and INSTRUCTOR.html into `out`."""
    sources = sorted(NOTEBOOKS.glob("*.ipynb")) if sources is None else sources
    out.mkdir(parents=True, exist_ok=True)
    names = {s.name for s in sources}
    exporter = HTMLExporter(template_name="lab")
    paths = machine_paths()
    written, entries = [], []
    for source in sources:
        title, body = export_notebook(source, exporter, names)
        found = paths.search(body)
        if found:
            raise SystemExit(f"{source.name}: the page shows a machine path {found.group(0)!r}")
        target = out / f"{source.stem}.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        minutes = minutes_of(nbformat.read(source, as_version=4))
        entries.append((target.name, title, minutes))
    guide = NOTEBOOKS / "INSTRUCTOR.md"
    if guide.exists():
        render = mistune.create_markdown(plugins=["table", "strikethrough"])
        content = link_pages(render(guide.read_text(encoding="utf-8")), names)
        target = out / "INSTRUCTOR.html"
        target.write_text(page("Async Agents Lab: instructor guide", content), encoding="utf-8")
        written.append(target)
    index = out / "index.html"
    index.write_text(index_page(entries, guide.exists()), encoding="utf-8")
    written.append(index)
    return written


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_site",
                        help="folder to write into (default: _site/)")
    args = parser.parse_args(argv)
    written = export_site(args.out)
    print(f"html: {len(written)} pages in {args.out} (open index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

