"""The static HTML export: one page per notebook, figures embedded, an index linking all."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def title_of(nb):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    raise AssertionError("no heading")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "tools/export_html.py", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


def test_one_page_per_notebook_and_an_index(site):
    pages = {p.name for p in site.glob("*.html")}
    expected = {p.stem + ".html" for p in NOTEBOOKS} | {"index.html"}
    if (ROOT / "notebooks" / "INSTRUCTOR.md").exists():
        expected.add("INSTRUCTOR.html")
    assert pages == expected


def test_each_page_has_its_title_a_figure_and_no_machine_path(site):
    machine = [str(ROOT), str(Path.home()) + "/", sys.prefix, "site-packages"]
    for path in NOTEBOOKS:
        page = (site / f"{path.stem}.html").read_text(encoding="utf-8")
        title = title_of(nbformat.read(path, as_version=4))
        assert f"<title>{title}</title>" in page.replace("&#39;", "'"), path.name
        assert "data:image/png;base64," in page, path.name
        for p in machine:
            assert p not in page, f"{path.name} shows {p}"


def test_solutions_are_included(site):
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        page = (site / f"{path.stem}.html").read_text(encoding="utf-8")
        shown = re.findall(r'class="jp-Cell [^"]*celltag_solution', page)
        assert len(shown) == len(solutions), path.name


def test_panels_keep_their_widget_state_and_a_static_figure(site):
    """The saved widget state is embedded (live panels online), and each panel's figure is
    also there as a plain image, so the page reads offline."""
    with_widgets = [p for p in NOTEBOOKS
                    if "widgets" in nbformat.read(p, as_version=4).metadata]
    assert with_widgets
    for path in with_widgets:
        page = (site / f"{path.stem}.html").read_text(encoding="utf-8")
        assert WIDGET_STATE in page, path.name
        panels = re.findall(r'<div class="asynclab-static-panel">(.*?)</div>\s*</div>', page, re.S)
        if "asynclab.Panel(" in "".join(c.source for c in nbformat.read(path, as_version=4).cells):
            assert panels, f"{path.name}: no static copy of its panel"
            assert all("data:image/png;base64," in p for p in panels), path.name


def test_index_links_every_page_with_its_title(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        title = title_of(nbformat.read(path, as_version=4))
        assert f'href="{path.stem}.html"' in index, path.name
        assert title.replace("&", "&amp;") in index.replace("&#x27;", "'"), path.name


def test_links_between_notebooks_point_to_pages(site):
    for path in NOTEBOOKS:
        page = (site / f"{path.stem}.html").read_text(encoding="utf-8")
        for target in re.findall(r'href="([\w.-]+\.ipynb)', page):
            assert not (ROOT / "notebooks" / target).exists(), f"{path.name} links {target}"
