"""The student edition: every notebook, no solutions, no outputs, and it still runs."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUN_ME = "04_race_conditions.ipynb"  # small (about 6 s), with three exercises


def is_solution(cell):
    return "solution" in cell.get("metadata", {}).get("tags", [])


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    done = subprocess.run([sys.executable, "tools/student_edition.py", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def pairs(student_dir):
    for path in NOTEBOOKS:
        yield (path.name, nbformat.read(path, as_version=4),
               nbformat.read(student_dir / path.name, as_version=4))


def test_every_notebook_and_nothing_else(student):
    assert sorted(p.name for p in student.iterdir()) == [p.name for p in NOTEBOOKS]


def test_some_notebooks_have_solutions_to_remove():
    assert any(is_solution(c) for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells)


def test_no_solution_cell_and_no_solution_text_remains(student):
    for name, original, copy in pairs(student):
        assert not any(is_solution(c) for c in copy.cells), name
        kept_text = "\n".join(c.source for c in original.cells if not is_solution(c))
        copy_text = nbformat.writes(copy)
        for cell in original.cells:
            if not is_solution(cell):
                continue
            assert cell.source.strip() not in copy_text, f"{name}: a solution cell's source"
            # every line of the solution that is not also in a kept cell must be gone
            for line in cell.source.splitlines():
                line = line.strip()
                if len(line) > 12 and line not in kept_text:
                    assert line not in copy_text, f"{name}: solution line left: {line!r}"


def test_everything_else_is_kept_in_order(student):
    for name, original, copy in pairs(student):
        kept = [(c.cell_type, c.source) for c in original.cells if not is_solution(c)]
        assert [(c.cell_type, c.source) for c in copy.cells] == kept, name
        tags = [c.metadata.get("tags", []) for c in original.cells if not is_solution(c)]
        assert [c.metadata.get("tags", []) for c in copy.cells] == tags, name


def test_learner_cells_before_each_check_are_kept(student):
    for name, original, copy in pairs(student):
        sources = [c.source for c in copy.cells]
        for i, cell in enumerate(original.cells):
            if not is_solution(cell):
                continue
            code_before = [c for c in original.cells[:i] if c.cell_type == "code"]
            check, learner = code_before[-1], code_before[-2]
            assert not is_solution(check) and not is_solution(learner), name
            assert check.source in sources and learner.source in sources, name
            assert sources.index(learner.source) < sources.index(check.source), name


def test_no_outputs_and_valid_nbformat(student):
    for name, _, copy in pairs(student):
        nbformat.validate(copy)
        assert "widgets" not in copy.metadata, name
        for cell in copy.cells:
            assert "execution" not in cell.metadata, name
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name


def test_a_student_notebook_runs_top_to_bottom(student):
    """A learner who opens the student edition and runs all sees "not answered yet" for
    each exercise, never a traceback."""
    from kernel_waits import slice_client_waits
    from nbclient import NotebookClient

    path = student / RUN_ME
    nb = nbformat.read(path, as_version=4)
    original = nbformat.read(ROOT / "notebooks" / RUN_ME, as_version=4)
    exercises = sum(is_solution(c) for c in original.cells)
    assert exercises >= 1
    client = NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(student)}})
    client.on_notebook_start = lambda **_: slice_client_waits(client)  # see kernel_waits
    client.execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{out.ename}: {out.evalue}"
            if out.output_type == "stream":
                texts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                texts.append(out.data.get("text/plain", ""))
    assert sum(t.count("not answered yet") for t in texts) == exercises, texts
