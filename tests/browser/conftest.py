"""Fixtures for the browser tests: a real JupyterLab server and a real headless chromium.

Everything here stays inside tests/browser: the unit tests in tests/ never see it.

- ``lab_server`` (session): ``python -m jupyter lab`` started with the interpreter running
  pytest, serving a temporary COPY of the notebooks (so nothing the browser does can modify
  notebooks/*.ipynb), with its own config, data, runtime, IPython, workspaces and
  user-settings directories (autosave off). It is always stopped at the end, together with
  every kernel it started, also when a test fails or times out.
- ``browser`` (session): headless chromium (Debian's, never ``playwright install``) through
  playwright's sync API, with a fresh profile directory.
- ``lab_page`` (function): a new tab; afterwards the tab is closed and every session and
  kernel of the server is shut down, so each notebook starts in a fresh kernel.
- ``load_js(name)``: the JavaScript in js/<name>.js that the tests run in the page.

Knobs (environment variables):

- ``CI=true``: a missing chromium or playwright FAILS the tests instead of skipping them.
- ``ASYNCLAB_BROWSER_NOTEBOOKS=DIR``: test the notebooks in DIR instead of notebooks/.
- ``ASYNCLAB_CHROMIUM=PATH``: the chromium binary (default: ``shutil.which("chromium")``).
- ``ASYNCLAB_BROWSER_RUN_TIMEOUT=S``: seconds allowed for one "Run All" (default 120).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = Path(os.environ.get("ASYNCLAB_BROWSER_NOTEBOOKS") or REPO / "notebooks").resolve()
ARTIFACTS_DIR = REPO / "artifacts" / "browser"
CHROMIUM = os.environ.get("ASYNCLAB_CHROMIUM") or shutil.which("chromium")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
ENABLE_HINT = "apt-get install -y chromium && pip install playwright (never `playwright install`)"
# Debian's chromium, headless in a container and offline: no sandbox (chromium refuses to
# run as root with it, and a container seldom grants the namespaces it needs), no GPU, no
# first-run setup, and nothing that reaches for a network that is not there (QUIC,
# background networking, component updates, sync).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0
# The JavaScript the tests run in the page: one function expression per file.
JS_DIR = Path(__file__).resolve().parent / "js"

# Settings for the server's own user-settings directory.
USER_SETTINGS = {
    # Never write to the notebooks (we serve a copy anyway).
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    # Attach every cell to the DOM, so every prompt and output can be checked and seen.
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # Offline machine: no news, no update check, no extension manager talking to PyPI.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: runs notebooks in a real JupyterLab in chromium")


def load_js(name: str) -> str:
    """The function expression in js/<name>.js, as ``page.evaluate`` takes it (the file's
    leading ``//`` comment lines dropped)."""
    lines = (JS_DIR / f"{name}.js").read_text().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("//")):
        lines.pop(0)
    return "\n".join(lines)


def find_notebooks() -> list[Path]:
    """The notebooks to test, found when the tests are collected (new ones join by themselves)."""
    return sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def pytest_generate_tests(metafunc):
    if "notebook" in metafunc.fixturenames:
        notebooks = find_notebooks()
        metafunc.parametrize("notebook", notebooks, ids=[p.stem for p in notebooks])


@dataclass
class LabServer:
    url: str
    token: str
    root: Path  # the temporary copy of the notebooks that the server serves
    log: Path
    process: subprocess.Popen

    def api(self, method: str, path: str, timeout: float = 10.0):
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method in {"POST", "PUT", "PATCH"} else None,
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    def shutdown_sessions(self) -> None:
        """Shut down every session and kernel (best effort, bounded)."""
        for what in ("sessions", "kernels"):
            try:
                items = self.api("GET", f"/api/{what}", timeout=5)
            except (OSError, ValueError):
                return
            for item in items or []:
                try:
                    self.api("DELETE", f"/api/{what}/{item['id']}", timeout=15)
                except (OSError, ValueError):
                    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if pytest dies without cleaning up (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in USER_SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def _descendants(pid: int) -> list:
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:
        return []


def _stop_process_group(proc: subprocess.Popen, grace: float) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass


def _kill_leftovers(procs: list) -> None:
    alive = [p for p in procs if p.is_running()]
    if not alive:
        return
    import psutil

    for p in alive:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(alive, timeout=3)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=3)


def _answers_or_exited(server: LabServer) -> bool:
    """True once the server answers /api/status, or once it has exited (no use waiting)."""
    if server.process.poll() is not None:
        return True
    try:
        server.api("GET", "/api/status", timeout=2)
    except (OSError, ValueError):
        return False
    return True


def _start_server(tmp: Path, root: Path) -> LabServer:
    token = secrets.token_hex(24)
    env = dict(os.environ)
    for var, sub in {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "IPYTHONDIR": "ipython",
    }.items():
        (tmp / sub).mkdir(exist_ok=True)
        env[var] = str(tmp / sub)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("JUPYTER_TOKEN", None)
    settings_dir = tmp / "user-settings"
    _write_settings(settings_dir)
    last_error = ""
    for _attempt in range(3):  # another process may grab the free port before the server does
        port = _free_port()
        log = tmp / f"jupyter-{port}.log"
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
            f"--LabApp.user_settings_dir={settings_dir}",
            # Safety nets should everything else fail: idle kernels and an idle server go away.
            "--MappingKernelManager.cull_idle_timeout=900",
            "--MappingKernelManager.cull_interval=60",
            "--ServerApp.shutdown_no_activity_timeout=1200",
        ]
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                cmd,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as a whole at the end
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        server = LabServer(f"http://127.0.0.1:{port}", token, root, log, proc)
        up_or_exited = functools.partial(_answers_or_exited, server)
        if wait_for(up_or_exited, SERVER_START_TIMEOUT, every=0.2) and proc.poll() is None:
            return server
        last_error = (
            f"exited with code {proc.returncode}"
            if proc.poll() is not None
            else f"did not answer /api/status within {SERVER_START_TIMEOUT:.0f} s"
        )
        last_error += f"; log {log}:\n{server.log_tail()}"
        _stop_process_group(proc, 5.0)
    raise RuntimeError(f"JupyterLab did not start: {last_error}")


def _stop_server(server: LabServer) -> None:
    kids = _descendants(server.process.pid)  # kernels run in their own sessions: remember them
    try:
        server.shutdown_sessions()
        kids += [k for k in _descendants(server.process.pid) if k not in kids]
        try:
            server.api("POST", "/api/shutdown", timeout=5)
        except (OSError, ValueError):
            pass
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            pass
    finally:
        _stop_process_group(server.process, 5.0)
        _kill_leftovers(kids)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory) -> LabServer:
    if not NOTEBOOKS_DIR.is_dir():
        pytest.fail(f"no notebooks directory {NOTEBOOKS_DIR}", pytrace=False)
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "root"
    # Serve a copy: the browser can never modify the repository's notebooks.
    shutil.copytree(
        NOTEBOOKS_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    server = _start_server(tmp, root)
    try:
        yield server
    finally:
        _stop_server(server)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """A headless chromium context (persistent profile in a fresh temporary directory)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright is not importable ({exc}): {ENABLE_HINT}", pytrace=False)
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found: {ENABLE_HINT}", pytrace=False)
    profile = tmp_path_factory.mktemp("chromium-profile")
    pw = sync_playwright().start()
    context = None
    try:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
    finally:
        try:
            if context is not None:
                context.close()
        finally:
            pw.stop()


@dataclass
class LabPage:
    page: object  # playwright.sync_api.Page
    server: LabServer
    console_errors: list[str]


@pytest.fixture
def lab_page(browser, lab_server) -> LabPage:
    """A fresh tab; afterwards the tab is closed and every kernel of the server shut down."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text[:500]) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"[:500]))
    try:
        yield LabPage(page, lab_server, errors)
    finally:
        try:
            page.close(run_before_unload=False)
        except Exception:
            pass
        lab_server.shutdown_sessions()
