"""Every notebook has a text source beside it (notebooks/NN_name.md, MyST Markdown, paired by
jupytext.toml), and the two say the same thing: the same cells, sources and kept metadata.

The text is what reviewers read, so a pair out of sync means a review of the wrong thing.
"""

import difflib
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_configuration_file

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TEXT_FORMAT = "md:myst"
SYNC_HINT = ("sync it with `jupytext --sync {path}` (the newer of the two files wins; "
             "`make sync` syncs every pair, `make notebooks` also re-executes them)")


def config():
    return load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))


def text_sources(folder: Path) -> list[Path]:
    """The notebooks' text sources (other Markdown, like INSTRUCTOR.md, is not one)."""
    return sorted(folder.glob("[0-9][0-9]*_*.md"))


def pair_problems(folder: Path) -> list[str]:
    """What is wrong with the pairs in `folder`, one message per problem, each with its fix."""
    problems = []
    cfg = config()
    notebooks = sorted(folder.glob("*.ipynb"))
    for md in text_sources(folder):
        if not md.with_suffix(".ipynb").exists():
            problems.append(f"{md.name} has no notebook beside it (delete it, or make it a "
                            "new notebook): " + SYNC_HINT.format(path=f"notebooks/{md.name}"))
    for ipynb in notebooks:
        md = ipynb.with_suffix(".md")
        hint = SYNC_HINT.format(path=f"notebooks/{md.name}")
        if not md.exists():
            hint = SYNC_HINT.format(path=f"notebooks/{ipynb.name}")
            problems.append(f"{ipynb.name} has no text source {md.name}: {hint}")
            continue
        expected = jupytext.writes(nbformat.read(ipynb, as_version=4), fmt=TEXT_FORMAT,
                                   config=cfg)
        actual = md.read_text(encoding="utf-8")
        if actual != expected:
            diff = list(difflib.unified_diff(
                expected.splitlines(), actual.splitlines(), f"{ipynb.name} (as text)", md.name,
                lineterm="", n=1))
            shown = "\n".join(diff[:30]) + ("\n..." if len(diff) > 30 else "")
            problems.append(f"{md.name} and {ipynb.name} differ: {hint}\n{shown}")
    return problems


def test_jupytext_pairs_every_notebook_with_a_myst_text_source():
    cfg = config()
    for ipynb in sorted(NOTEBOOKS.glob("*.ipynb")):
        assert cfg.default_formats(str(ipynb)) == "ipynb,md:myst", ipynb.name
    assert text_sources(NOTEBOOKS), "no text sources found"


def test_every_notebook_and_its_text_source_are_in_sync():
    problems = pair_problems(NOTEBOOKS)
    assert not problems, "\n\n".join(problems)


def test_the_text_keeps_tags_and_collapsed_solutions_but_no_volatile_metadata():
    noise = re.compile(r"^\s*(kernelspec|language_info|widgets|jupytext|execution|ExecuteTime"
                       r"|scrolled|outputs_hidden|collapsed):", re.M)
    for md in text_sources(NOTEBOOKS):
        found = noise.search(md.read_text(encoding="utf-8"))
        assert not found, f"{md.name} carries {found.group(0).strip()!r}: see jupytext.toml"
    texts = "\n".join(md.read_text(encoding="utf-8") for md in text_sources(NOTEBOOKS))
    assert "tags: [solution, nbval-ignore-output]" in texts
    assert "source_hidden: true" in texts


# The check itself: it must catch each way a pair can go wrong (on a copy, never the repo).

@pytest.fixture
def copy(tmp_path):
    """A copy of the first pair, in sync."""
    first = sorted(NOTEBOOKS.glob("*.ipynb"))[0]
    for path in (first, first.with_suffix(".md")):
        shutil.copy(path, tmp_path / path.name)
    assert pair_problems(tmp_path) == []
    return tmp_path / first.name


def test_the_check_catches_an_edit_of_the_text_only(copy):
    md = copy.with_suffix(".md")
    md.write_text(md.read_text(encoding="utf-8").replace("**You will learn**",
                                                         "**You will learn today**", 1))
    [problem] = pair_problems(copy.parent)
    assert "differ" in problem and f"jupytext --sync notebooks/{md.name}" in problem
    assert "+**You will learn today**" in problem


def test_the_check_catches_an_edit_of_the_notebook_only(copy):
    nb = nbformat.read(copy, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\nprint('added in the notebook')"
    nbformat.write(nb, copy)
    [problem] = pair_problems(copy.parent)
    assert "differ" in problem and "jupytext --sync" in problem


def test_the_check_catches_a_changed_tag(copy):
    nb = nbformat.read(copy, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code" and c.metadata.get("tags"))
    code.metadata["tags"] = []
    nbformat.write(nb, copy)
    [problem] = pair_problems(copy.parent)
    assert "+:tags: [nbval-ignore-output]" in problem


def test_the_check_catches_a_missing_text_and_a_missing_notebook(copy):
    copy.with_suffix(".md").unlink()
    [problem] = pair_problems(copy.parent)
    assert "has no text source" in problem and f"jupytext --sync notebooks/{copy.name}" in problem
    copy.with_suffix(".md").write_text("# 99 · Orphan\n", encoding="utf-8")
    copy.rename(copy.with_name("99_orphan.ipynb.bak"))
    copy.with_suffix(".md").rename(copy.with_name("99_orphan.md"))
    [problem] = pair_problems(copy.parent)
    assert "99_orphan.md has no notebook" in problem


def test_other_markdown_is_not_a_text_source(copy):
    (copy.parent / "INSTRUCTOR.md").write_text("# Notes for instructors\n", encoding="utf-8")
    assert pair_problems(copy.parent) == []


# What tools/execute_notebooks.py saves must not change from run to run without a reason.

def executed_with_widgets(ids: list[str]):
    """A notebook as nbclient saves it: a panel (a box of a slider) with random model ids."""
    box, slider, layout = ids
    view = {"model_id": box, "version_major": 2, "version_minor": 0}
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("panel", id="c0", execution_count=1, outputs=[
            nbformat.v4.new_output("display_data", {"application/vnd.jupyter.widget-view+json":
                                                    view, "text/plain": "VBox()"})]),
        nbformat.v4.new_code_cell("print('pass')", id="c1", execution_count=2, metadata={
            "tags": ["solution", "nbval-ignore-output"]},
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="pass\n")]),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {
            layout: {"model_name": "LayoutModel", "state": {}},
            slider: {"model_name": "IntSliderModel", "state": {"layout": f"IPY_MODEL_{layout}"}},
            box: {"model_name": "VBoxModel", "state": {"children": [f"IPY_MODEL_{slider}"]}},
        }}}
    return nbformat.from_dict(nb)


def test_saved_widget_ids_are_the_same_in_every_run_and_solutions_have_no_outputs():
    import uuid

    import execute_notebooks

    saved = []
    for _ in range(2):
        nb = executed_with_widgets([uuid.uuid4().hex for _ in range(3)])
        execute_notebooks.quiet(nb, "99_demo")
        saved.append(nbformat.writes(nb))
    assert saved[0] == saved[1]
    nb = nbformat.reads(saved[0], as_version=4)
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    box = nb.cells[0].outputs[0].data["application/vnd.jupyter.widget-view+json"]["model_id"]
    slider = state[box]["state"]["children"][0].removeprefix("IPY_MODEL_")
    layout = state[slider]["state"]["layout"].removeprefix("IPY_MODEL_")
    assert {box, slider, layout} == set(state)  # every reference still points at a model
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count == 2
