"""The classroom load test (tools/classroom.py): K learners run the same notebook at once,
each in a fresh kernel, and every copy must finish clean, no cell over 60 s.

The load tests are marked ``classroom`` and run only when asked (about 4 minutes on two
cores): ``ASYNCLAB_CLASSROOM=1 pytest -m classroom tests/test_classroom.py`` (CI does, on
one Python), or ``make classroom`` for the table alone. The tool's own tests below (a
failing assert, a cell over the limit, bad input) run in every ``make test``.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import classroom
import kernel_waits
import nbformat
import pytest
from jupyter_client.channels import Empty

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
LOAD = [(nb, k) for k in (3, 5) for nb in NOTEBOOKS]
RUN_LOAD = os.environ.get("ASYNCLAB_CLASSROOM", "").strip().lower() in {"1", "true", "yes"}


def _notebook(tmp_path: Path, name: str, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a throwaway notebook")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.classroom
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not RUN_LOAD, reason="the classroom load test runs with "
                    "ASYNCLAB_CLASSROOM=1 pytest -m classroom (or make classroom)")
@pytest.mark.parametrize(("notebook", "learners"), LOAD,
                         ids=[f"{nb.stem}-K{k}" for nb, k in LOAD])
def test_every_learner_finishes_clean(notebook, learners):
    copies = classroom.run_notebook(notebook, learners)
    table = classroom.report_table(copies)
    out = ROOT / "artifacts" / "classroom" / "pytest"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{notebook.stem}-K{learners}.md").write_text(table + "\n")
    assert all(c.clean for c in copies), f"{learners} learners at once:\n{table}"


# --- the tool itself ----------------------------------------------------------------------


def test_a_failing_assert_is_reported_with_its_cell_and_message(tmp_path):
    path = _notebook(tmp_path, "fails", "x = 1", "import os\nassert False, 'the lesson broke'",
                     "never = 1")
    copies = classroom.run_notebook(path, 2)
    assert [c.copy for c in copies] == [1, 2]
    for c in copies:
        assert not c.clean
        assert (c.failure.cell, c.failure.kind) == (2, "error")
        assert c.failure.first_line == "import os"
        assert c.failure.message == "AssertionError: the lesson broke"
        assert [index for index, _ in c.cells] == [1, 2], "stops at the failing cell"
    table = classroom.report_table(copies)
    assert "| fails | 2 | 0 | 2 |" in table
    assert "fails K=2 copy 1: cell 2 ('import os'), error: AssertionError: the lesson broke" \
        in table


def test_a_cell_over_the_limit_fails_its_copy_and_the_others_run_at_once(tmp_path):
    path = _notebook(tmp_path, "slow", "import time\ntime.sleep(1.0)", "time.sleep(30)")
    copies = classroom.run_notebook(path, 3, cell_timeout=3)
    assert [c.failure.kind for c in copies] == ["timeout"] * 3
    assert all(c.failure.cell == 2 and "3 s" in c.failure.message for c in copies)
    # at once: three 1 s sleeps and three 3 s limits take far less than 3 x (1 + 3) s
    assert max(c.start_seconds + c.seconds for c in copies) < 3 * 4 * 0.8
    assert all(c.slowest_cell()[0] == 2 for c in copies)


def test_the_kernels_history_is_where_asked(tmp_path):
    checks = {"memory": "hm.enabled and str(hm.hist_file) == ':memory:'",
              "shared": "hm.enabled and str(hm.hist_file).endswith('history.sqlite')",
              "off": "not hm.enabled"}
    for history, check in checks.items():
        path = _notebook(tmp_path, history, "import IPython\n"
                         "hm = IPython.get_ipython().history_manager\n"
                         f"assert {check}, (hm.enabled, str(hm.hist_file))")
        copies = classroom.run_notebook(path, 2, history=history)
        assert all(c.clean for c in copies), classroom.report_table(copies)
    assert "| off | 2 | 2 | 0 |" in classroom.report_table(copies)


class MissedWakeUp:
    """A channel as zmq.asyncio behaves when it misses a wake-up: the message is in the
    socket from ``arrives`` s on, but a wait only finds it when its own timeout ends."""

    def __init__(self, arrives: float):
        self.at = time.monotonic() + arrives

    async def get_msg(self, timeout=None):
        await asyncio.sleep(timeout)
        if time.monotonic() >= self.at:
            return {"msg": "reply"}
        raise Empty


def test_sliced_waits_find_a_missed_reply_within_a_slice():
    async def main(channel):
        t0 = time.monotonic()
        msg = await channel.get_msg(timeout=3.0)
        return msg, time.monotonic() - t0

    plain = MissedWakeUp(arrives=0.1)
    msg, took = asyncio.run(main(plain))
    assert msg == {"msg": "reply"} and took >= 2.9, "without slices: found at the timeout"
    sliced = MissedWakeUp(arrives=0.1)
    kernel_waits.sliced_waits(sliced, every=0.2)
    msg, took = asyncio.run(main(sliced))
    assert msg == {"msg": "reply"} and took < 1.0, f"found after {took:.2f} s"


def test_sliced_waits_keep_the_timeout():
    never = MissedWakeUp(arrives=1e9)
    kernel_waits.sliced_waits(never, every=0.1)
    t0 = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(never.get_msg(timeout=0.5))
    assert 0.45 < time.monotonic() - t0 < 1.5


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"learners": 0}, "learners must be whole numbers >= 1"),
    ({"learners": 2.5}, "learners must be whole numbers >= 1"),
    ({"cell_timeout": 0}, "cell_timeout must be"),
    ({"history": "disk"}, "history must be one of memory, shared, off"),
    ({"spy_after": -1}, "spy_after must be"),
    ({"poll_slice": 0}, "poll_slice must be seconds > 0"),
    ({"path": "nothing.ipynb"}, "is not an existing .ipynb file"),
])
def test_bad_input_is_refused_before_any_kernel_starts(tmp_path, kwargs, words):
    args = {"path": _notebook(tmp_path, "ok", "1"), "learners": 1} | kwargs
    path, learners = args.pop("path"), args.pop("learners")
    with pytest.raises(ValueError, match=words):
        classroom.run_notebook(path, learners, **args)


def test_the_cli_refuses_bad_input_with_status_2(capsys):
    assert classroom.main(["--learners", "0"]) == 2
    assert "learners must be whole numbers >= 1" in capsys.readouterr().err
