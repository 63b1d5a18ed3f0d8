"""Run notebooks and code in real Jupyter kernels, for the reliability tests.

- ``notebook_paths()``: the notebooks to test, found when the tests are collected
  (``notebooks/*.ipynb``, or ``$ASYNCLAB_RELIABILITY_NOTEBOOKS``, a directory or a file, to
  point the tests at a throwaway notebook when checking that they can fail).
- ``first_run(path)``: execute a notebook in a fresh kernel with a baseline cell injected
  first, check for leaks, drive every widget control of every ``asynclab.Panel``, check for
  leaks again. Cached per path, so the widget, leak and rerun tests share one kernel.
- ``execute_notebook(path)``: a plain fresh-kernel execution, for the rerun comparison.
- ``Kernel``: a bare kernel for the interrupt tests (execute, interrupt, wait).
- ``comparable_outputs(nb)``: cell outputs as nbval compares them, after
  ``tests/nbval_sanitize.cfg``.

The code run inside the kernel lives in tests/kernel_probes/ (baseline.py, leak_check.py,
sweep.py), read here at import; ``baseline_cell()``, ``leak_check_cell(ports)`` and
``sweep_cell(bound)`` append the call that runs it.
"""

from __future__ import annotations

import configparser
import functools
import json
import os
import queue
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import zmq.utils.garbage
from jupyter_client import KernelManager
from kernel_waits import slice_client_waits
from nbclient import NotebookClient

# pyzmq starts its garbage-collector thread in this process on the first large message it
# sends to a kernel, and keeps it for good; start it now, before any test, so the autouse
# leak fixture of conftest.py does not count it against the first notebook test.
if not zmq.utils.garbage.gc.is_alive():
    zmq.utils.garbage.gc.start()

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SANITIZE_CFG = ROOT / "tests" / "nbval_sanitize.cfg"
KERNEL_NAME = "python3"
CELL_TIMEOUT = 120  # seconds per notebook cell, as `make test` gives nbval
SWEEP_RUN_BOUND = 20.0  # seconds: a single panel.run slower than this is a failure
MARK = "@@reliability@@"  # prefixes the JSON line an injected cell prints


def notebook_paths() -> list[Path]:
    override = os.environ.get("ASYNCLAB_RELIABILITY_NOTEBOOKS")
    if override:
        where = Path(override)
        return [where] if where.is_file() else sorted(where.glob("*.ipynb"))
    return sorted(NOTEBOOKS.glob("*.ipynb"))


# --- code injected into the kernel ----------------------------------------------------
# The probes are real Python files in tests/kernel_probes/ (linted, importable in-process);
# a cell sends a probe's text, then the call the harness appends to it.

PROBES = ROOT / "tests" / "kernel_probes"
BASELINE_CODE = (PROBES / "baseline.py").read_text()
LEAK_CHECK_CODE = (PROBES / "leak_check.py").read_text()
SWEEP_CODE = (PROBES / "sweep.py").read_text()
_PRINT_MARKED = f"print({MARK!r} + __import__('json').dumps({{}}))"


def baseline_cell() -> str:
    """Take the baseline into ``__reliability__``, in the kernel's namespace."""
    return (BASELINE_CODE
            + "\n__reliability__ = _reliability_baseline()\ndel _reliability_baseline\n")


def leak_check_cell(kernel_ports: list[int]) -> str:
    """Print what is new since the baseline, as a marked JSON line (top-level await, so the
    kernel's loop runs while the check waits for exiting things to go)."""
    call = f"await _reliability_leaks(kernel_ports={list(kernel_ports)!r}, base=__reliability__)"
    return (LEAK_CHECK_CODE + "\n" + _PRINT_MARKED.format(call)
            + "\ndel _reliability_leaks, KERNEL_THREADS, KERNEL_CHILD, LIBRARY_THREADS\n")


def sweep_cell(bound: float) -> str:
    """Print the widget sweep's result, as a marked JSON line."""
    call = f"_reliability_sweep(bound={float(bound)!r})"
    return SWEEP_CODE + "\n" + _PRINT_MARKED.format(call) + "\ndel _reliability_sweep\n"


def _parse_marked(cell: Any) -> Any:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            for line in out["text"].splitlines():
                if line.startswith(MARK):
                    return json.loads(line[len(MARK):])
    raise AssertionError(f"the injected cell printed no result: {cell.get('outputs')}")


# --- notebook runs --------------------------------------------------------------------


@dataclass
class FirstRun:
    """What one fresh-kernel run of a notebook found."""

    path: Path
    nb: Any = None  # the executed notebook, injected cells removed
    error: str | None = None  # the notebook itself failed (cell error or timeout)
    seconds: float = 0.0  # executing the notebook's own cells
    leaks_after_notebook: dict = field(default_factory=dict)
    leaks_after_sweep: dict = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)
    sweep_seconds: float = 0.0


def _client(nb: Any, path: Path) -> NotebookClient:
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}}, record_timing=False,
    )
    # Without it, a reply the client failed to notice waits for the cell timeout (120 s):
    # the multi-minute stalls seen when several suites ran kernels at once.
    client.on_notebook_start = lambda **_: slice_client_waits(client)
    return client


def _error_of(exc: BaseException, index: int) -> str:
    text = str(exc).strip().splitlines()
    return f"cell {index}: {type(exc).__name__}: " + "\n".join(text[-15:])


@functools.cache
def first_run(path: Path) -> FirstRun:
    """Execute, check leaks, sweep the widgets, check leaks again; one kernel, cached."""
    result = FirstRun(path)
    nb = nbformat.read(path, as_version=4)
    own = list(nb.cells)
    # nbclient stores each executed cell at its index: the injected cells get their own.
    work = nbformat.v4.new_notebook(metadata=nb.metadata)
    work.cells = [nbformat.v4.new_code_cell(baseline_cell())] + own
    client = _client(work, path)

    def inject(source: str) -> Any:
        work.cells.append(nbformat.v4.new_code_cell(source))
        client.execute_cell(work.cells[-1], len(work.cells) - 1)
        return _parse_marked(work.cells[-1])

    with client.setup_kernel():
        ports = client.km.get_connection_info()
        kernel_ports = sorted(ports[k] for k in ports if k.endswith("_port"))
        client.execute_cell(work.cells[0], 0)
        start = time.perf_counter()
        for index, cell in enumerate(own):
            try:
                client.execute_cell(cell, index + 1)
            except Exception as exc:  # CellExecutionError, CellTimeoutError, DeadKernelError
                result.error = _error_of(exc, index)
                break
        result.seconds = time.perf_counter() - start
        result.nb = nb
        if result.error is not None:
            return result

        def leaks() -> dict:
            return inject(leak_check_cell(kernel_ports))

        result.leaks_after_notebook = leaks()
        start = time.perf_counter()
        client.timeout = 280
        try:
            result.sweep = inject(sweep_cell(SWEEP_RUN_BOUND))
        except Exception as exc:
            result.sweep = {"panels": [], "cases": [], "failures": [
                {"panel": "?", "control": "?", "value": "?", "error": _error_of(exc, -1)}]}
        result.sweep_seconds = time.perf_counter() - start
        client.timeout = CELL_TIMEOUT
        result.leaks_after_sweep = leaks()
    return result


def execute_notebook(path: Path) -> tuple[Any, str | None]:
    """Execute a notebook top to bottom in a fresh kernel: (notebook, error or None)."""
    nb = nbformat.read(path, as_version=4)
    client = _client(nb, path)
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            try:
                client.execute_cell(cell, index)
            except Exception as exc:
                return nb, _error_of(exc, index)
    return nb, None


# --- output comparison, as nbval does it -----------------------------------------------

_SKIP = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
         "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}


@functools.cache
def sanitizers() -> list[tuple[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SANITIZE_CFG)
    return [(parser[s]["regex"], parser[s]["replace"]) for s in parser.sections()]


def sanitize(text: str) -> str:
    for regex, replace in sanitizers():
        text = re.sub(regex, replace, text)
    return text


def _flat(output: Any) -> dict:
    flat: dict[str, str] = {"type": output["output_type"]}
    if output["output_type"] == "stream":
        flat["stream"] = output["name"]
    for key, value in output.items():
        if key == "data":
            for mime, data in value.items():
                if mime not in _SKIP:
                    flat[mime] = sanitize(data if isinstance(data, str) else json.dumps(data))
        elif key not in _SKIP:
            flat[key] = sanitize(value if isinstance(value, str) else json.dumps(value))
    return flat


def comparable_outputs(nb: Any) -> dict[int, list[dict]]:
    """Per code cell not tagged nbval-ignore-output: its outputs, streams merged, sanitized."""
    compared = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "nbval-ignore-output" in cell.metadata.get("tags", []):
            continue
        merged: list[dict] = []
        streams: dict[str, dict] = {}
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                if out["name"] in streams:
                    streams[out["name"]]["text"] += out["text"]
                    continue
                out = {**out}
                streams[out["name"]] = out
            merged.append(out)
        compared[index] = [_flat(o) for o in merged]
    return compared


# --- a bare kernel, for interrupts ----------------------------------------------------


@dataclass
class Reply:
    status: str  # "ok" or "error"
    ename: str = ""
    evalue: str = ""
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0


class Kernel:
    """A fresh kernel: ``with Kernel() as k: k.run("x = 1")``."""

    def __init__(self, cwd: Path = NOTEBOOKS) -> None:
        self._replies: dict[str, Reply] = {}
        self.km = KernelManager(kernel_name=KERNEL_NAME)
        self.km.start_kernel(cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=60)
        except BaseException:
            self.close()
            raise
        info = self.km.get_connection_info()
        self.ports = sorted(info[k] for k in info if k.endswith("_port"))

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def start(self, code: str) -> tuple[str, float]:
        msg_id = self.kc.execute(code, store_history=False)
        self._replies[msg_id] = Reply("ok")
        return msg_id, time.perf_counter()

    def wait(self, started: tuple[str, float], timeout: float, until: Any = None) -> Reply:
        """Collect the cell's output until the kernel is idle again (or ``until(reply)``)."""
        msg_id, t0 = started
        reply = self._replies[msg_id]
        deadline = time.perf_counter() + timeout
        while True:
            if until is not None and until(reply):
                return reply
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"the cell did not finish within {timeout:g} s: {reply}")
            try:
                msg = self.kc.get_iopub_msg(timeout=left)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                setattr(reply, content["name"], getattr(reply, content["name"]) + content["text"])
            elif kind == "error":
                reply.status, reply.ename, reply.evalue = "error", content["ename"], content["evalue"]
            elif kind == "status" and content["execution_state"] == "idle":
                reply.seconds = time.perf_counter() - t0
                return reply

    def run(self, code: str, timeout: float = 60) -> Reply:
        return self.wait(self.start(code), timeout)

    def leaks(self) -> dict:
        """The leak survey of kernel_probes/leak_check.py against ``baseline()``'s."""
        reply = self.run(leak_check_cell(self.ports), timeout=60)
        assert reply.status == "ok", (reply.ename, reply.evalue, reply.stderr)
        line = next(ln for ln in reply.stdout.splitlines() if ln.startswith(MARK))
        return json.loads(line[len(MARK):])

    def baseline(self) -> None:
        reply = self.run(baseline_cell())
        assert reply.status == "ok", (reply.ename, reply.evalue)
