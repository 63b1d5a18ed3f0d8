"""The pip route, tried from scratch: a fresh venv, ``pip install -e .``, JupyterLab answers.

    python tools/smoke_lab.py [--python PYTHON] [--route pip|binder]

What the README's route for a machine without ``make`` says, with no extras:
``python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/jupyter lab
notebooks/00_start_here.ipynb``. In a temporary directory: make the venv with PYTHON
(default: this interpreter), install the repository into it, import ``asynclab`` from it,
start ``jupyter lab notebooks/00_start_here.ipynb`` from it headless on 127.0.0.1, a free
port and a random token (``--allow-root`` only when run as root, as ``make lab`` decides),
with its own config, data and runtime directories, then check that ``/api/status``, ``/lab``
and notebook 00 answer, and stop the server and its process group. Every step is bounded;
the venv is removed at the end. Exit status 0 when every check passed. .ci/run calls it.

``--route binder`` tries the hub's recipe instead, as repo2docker runs it: ``pip install
-r binder/requirements.txt``, then ``binder/postBuild`` in a copy of the repository, then
the same checks, and that JupyterLab's news prompt is off by default (``fetchNews``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["lab_command", "main", "smoke"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/00_start_here.ipynb"
INSTALL_TIMEOUT = 900.0  # seconds for pip, downloads included
START_TIMEOUT = 90.0  # seconds for JupyterLab to answer /api/status


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_command(jupyter: Path | str, port: int, token: str) -> list[str]:
    """The README's ``jupyter lab notebooks/00_start_here.ipynb``, headless on ``port``."""
    cmd = [str(jupyter), "lab", NOTEBOOK, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # as `make lab` does: JupyterLab refuses root without it
    return cmd


def _step(what: str, cmd: list[str], timeout: float, **kwargs) -> str:
    print(f"--- {what}: {' '.join(cmd)}", flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what}: no answer within {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}"
                           f"\n{done.stderr[-3000:]}")
    print(f"    ok in {time.monotonic() - started:.1f} s", flush=True)
    return done.stdout


def _get(url: str, token: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            pass


def _check_lab(venv: Path, work: Path) -> list[str]:
    """Start the venv's JupyterLab and return what it answered (raises if it did not)."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1", PYTHONUNBUFFERED="1")
    for var, sub in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data",
                     "JUPYTER_RUNTIME_DIR": "runtime", "IPYTHONDIR": "ipython",
                     "JUPYTERLAB_SETTINGS_DIR": "settings",
                     "JUPYTERLAB_WORKSPACES_DIR": "workspaces"}.items():
        (work / sub).mkdir(exist_ok=True)
        env[var] = str(work / sub)
    env.pop("JUPYTER_TOKEN", None)
    cmd = lab_command(venv / "bin" / "jupyter", port, token)
    print(f"--- jupyter lab: {' '.join(cmd).replace(token, '<token>')}", flush=True)
    log = work / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                code, body = _get(f"{base}/api/status", token)
                if code == 200:
                    status = json.loads(body)
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if status is None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"jupyter lab did not answer /api/status within "
                               f"{START_TIMEOUT:.0f} s (exit {proc.poll()}):\n{tail}")
        answers = [f"/api/status: {status}"]
        code, body = _get(f"{base}/lab", token)
        if code != 200 or b"JupyterLab" not in body:
            raise RuntimeError(f"/lab answered {code}, {len(body)} bytes")
        answers.append(f"/lab: {code}, {len(body)} bytes")
        # The server's root is notebooks/ (the notebook's folder); notebook 00 must be there.
        code, body = _get(f"{base}/api/contents/00_start_here.ipynb?content=0", token)
        if code != 200:
            raise RuntimeError(f"/api/contents/00_start_here.ipynb answered {code}")
        answers.append(f"notebook 00: {code}")
        code, body = _get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification",
                          token)
        news = json.loads(body)["schema"]["properties"]["fetchNews"]["default"] if code == 200 \
            else None
        answers.append(f"fetchNews by default: {news!r}")
        return answers
    finally:
        _stop(proc)


def smoke(python: str = sys.executable, route: str = "pip") -> list[str]:
    """Run the pip (or binder) route in a temporary directory; the checks that passed
    (raises on a failure, with what the failing step printed)."""
    if route not in ("pip", "binder"):
        raise ValueError(f"route must be 'pip' or 'binder', got {route!r}")
    with tempfile.TemporaryDirectory(prefix="smoke-lab-") as tmp:
        work = Path(tmp)
        venv = work / "venv"
        _step("venv", [python, "-m", "venv", str(venv)], 120)
        pip = [str(venv / "bin" / "python"), "-m", "pip"]
        env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
        if route == "pip":
            _step("pip install -e .", pip + ["install", "--quiet", "-e", str(ROOT)],
                  INSTALL_TIMEOUT, env=env)
            home = ROOT / "helpers"
        else:
            repo = work / "repo"  # postBuild runs in the repository's root, as repo2docker does
            shutil.copytree(ROOT, repo, ignore=shutil.ignore_patterns(
                ".git", ".venv*", "artifacts", "student", "_site", "*.egg-info", "build"))
            _step("pip install -r binder/requirements.txt", pip + [
                "install", "--quiet", "-r", "binder/requirements.txt"], INSTALL_TIMEOUT,
                env=env, cwd=repo)
            _step("binder/postBuild", ["bash", "binder/postBuild"], INSTALL_TIMEOUT, env=env,
                  cwd=repo)
            home = venv
        where = _step("import asynclab", [str(venv / "bin" / "python"), "-c",
                                          "import asynclab; print(asynclab.__file__)"], 60,
                      cwd=work).strip()
        if not where.startswith(str(home)):
            raise RuntimeError(f"asynclab came from {where}, not from {home}")
        answers = [f"asynclab from {where}"] + _check_lab(venv, work)
        if route == "binder" and "fetchNews by default: 'false'" not in answers:
            raise RuntimeError(f"the news prompt is not off after postBuild: {answers}")
        return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter that makes the venv (default: this one)")
    parser.add_argument("--route", choices=("pip", "binder"), default="pip",
                        help="pip: the README's pip route; binder: repo2docker's recipe")
    args = parser.parse_args(argv)
    try:
        for line in smoke(args.python, args.route):
            print(f"    {line}")
    except (RuntimeError, OSError) as exc:
        print(f"smoke_lab: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"smoke_lab: the {args.route} route works")
    return 0


if __name__ == "__main__":
    sys.exit(main())
