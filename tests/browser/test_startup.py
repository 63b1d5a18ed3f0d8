"""`make lab`, as a learner meets it: JupyterLab opens on notebook 00, with no pop-up.

The lab is started with the very command `make lab` runs (read from ``make -n lab`` for
this venv and this user, so ``--allow-root`` and the settings overrides are there exactly
when make would give them), plus what a headless test needs: ``--no-browser``, 127.0.0.1,
a free port and a token. It runs in a temporary copy of notebooks/, with its own config,
data, runtime, IPython and workspace directories (so no setting of this machine's user
can hide a pop-up). Chromium opens the URL JupyterLab prints for the notebook and checks:
notebook 00 is the open tab, its title is shown, its kernel comes up idle, and no
notification (JupyterLab's "official Jupyter news" question) and no dialog is shown.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from waiting import wait_for

from .conftest import (
    CHROMIUM,
    ENABLE_HINT,
    IN_CI,
    LabServer,
    _answers_or_exited,
    _die_with_parent,
    _free_port,
    _stop_server,
)

try:
    from playwright.sync_api import Error as PlaywrightError
except ImportError:
    PlaywrightError = None

if not IN_CI and (PlaywrightError is None or not CHROMIUM or not os.path.exists(CHROMIUM)):
    pytest.skip(f"browser tests need chromium and playwright: {ENABLE_HINT}; with CI=true "
                "they fail", allow_module_level=True)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "00_start_here.ipynb"
READY_TIMEOUT = 90.0  # the notebook open and its kernel idle
QUIET_SECONDS = 5.0  # after that, how long the page must stay free of pop-ups

# What the learner sees: the open tab, the notebook's cells, the kernel's state, pop-ups.
PAGE_STATE_JS = """() => {
  const text = (el) => (el ? el.textContent.trim() : null);
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const toasts = [...document.querySelectorAll('.Toastify__toast')].map(text);
  const dialogs = [...document.querySelectorAll('.jp-Dialog')].map(text);
  return {
    tab: text(document.querySelector('.lm-DockPanel-tabBar .lm-mod-current .lm-TabBar-tabLabel')),
    cells: panel ? panel.querySelectorAll('.jp-Cell').length : 0,
    title: panel ? text(panel.querySelector('.jp-RenderedMarkdown h1')) : null,
    kernel: panel ? (panel.querySelector('.jp-Notebook-ExecutionIndicator') || {}).dataset
                    ?.status || null : null,
    toasts, dialogs,
  };
}"""


def make_lab_command() -> list[str]:
    """The command `make lab` runs here (this venv, this user), split into words."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    venv = Path(sys.prefix)
    done = subprocess.run([make, "-n", "-o", f"{venv}/bin/.installed", "lab", f"VENV={venv}"],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if " lab " in f"{line} "]
    assert len(lines) == 1, f"make -n lab printed no single jupyter lab command:\n{done.stdout}"
    return lines[0].split()


@pytest.fixture
def lab_as_make_starts_it(tmp_path):
    cmd = make_lab_command()
    root = tmp_path / "repo"
    shutil.copytree(REPO / "notebooks", root / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
    for var, sub in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                     "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython",
                     "JUPYTERLAB_WORKSPACES_DIR": "workspaces"}.items():
        (tmp_path / sub).mkdir()
        env[var] = str(tmp_path / sub)
    env.pop("JUPYTER_TOKEN", None)
    env.pop("JUPYTERLAB_SETTINGS_DIR", None)
    token, port = secrets.token_hex(24), _free_port()
    cmd += ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.token={token}"]
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
    server = LabServer(f"http://127.0.0.1:{port}", token, root / "notebooks", log, proc)
    try:
        assert wait_for(lambda: _answers_or_exited(server), 60, every=0.2), server.log_tail()
        assert proc.poll() is None, f"make lab's command exited:\n{server.log_tail()}"
        yield server, cmd
    finally:
        _stop_server(server)


def test_make_lab_opens_notebook_00_with_no_pop_up(browser, lab_as_make_starts_it):
    server, cmd = lab_as_make_starts_it
    assert cmd[-6] == f"notebooks/{NOTEBOOK}", cmd  # make lab names notebook 00
    page = browser.new_page()
    try:
        page.goto(f"{server.url}/lab/tree/{NOTEBOOK}?token={server.token}",
                  wait_until="domcontentloaded")
        states: list[dict] = []

        def ready() -> bool:
            states.append(page.evaluate(PAGE_STATE_JS))
            s = states[-1]
            return (s["tab"] == NOTEBOOK and (s["title"] or "").startswith("00")
                    and s["kernel"] == "idle")

        assert wait_for(ready, READY_TIMEOUT, every=0.5), (
            f"notebook 00 did not open with an idle kernel: {states[-1:]}\n{server.log_tail()}")
        # The news question comes once the lab is restored and its settings loaded; give it
        # time to show, then require that nothing popped up at any moment.
        end = time.monotonic() + QUIET_SECONDS
        while time.monotonic() < end:
            states.append(page.evaluate(PAGE_STATE_JS))
            time.sleep(0.25)
        popups = [(s["toasts"], s["dialogs"]) for s in states if s["toasts"] or s["dialogs"]]
        assert not popups, f"pop-ups over notebook 00: {popups[-1]}"
    finally:
        page.close(run_before_unload=False)
