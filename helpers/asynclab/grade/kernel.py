"""One throwaway Jupyter kernel for one submission: started under limits, every wait bounded.

``GradingKernel(workdir, memory_mb)`` starts ``python launch.py`` (which sets the memory
limit and becomes ``ipykernel``) in ``workdir``, with its own IPython directory (so the
instructor's startup files do not run in it) and its output in ``workdir/kernel.log``.
``execute(code, timeout)`` runs one cell and says how it ended: ``ok``, ``error`` (the
cell raised), ``timeout`` (interrupted, and the kernel came back), ``stuck`` (it did not
come back within ``GRACE`` seconds: killed) or ``dead`` (the kernel exited). Leaving the
``with`` block shuts the kernel down and kills what is left of its process group, also on
an exception or an interrupt of the grader.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

__all__ = ["GRACE", "START_TIMEOUT", "CellRun", "GradingKernel", "KernelStartError"]

GRACE = 5.0  # seconds a timed-out cell gets to stop after the interrupt
START_TIMEOUT = 60.0  # seconds a kernel may take to start
_SPEC = "asynclab-grade"
_LAUNCH = Path(__file__).with_name("launch.py")


class KernelStartError(RuntimeError):
    """The kernel did not start (the message says why, as far as its log tells)."""


@dataclass
class CellRun:
    """How one cell ended: ``ok``, ``error``, ``timeout``, ``stuck`` or ``dead``."""

    status: str
    error: str = ""  # "NameError: name 'x' is not defined", for status error
    seconds: float = 0.0


class GradingKernel:
    def __init__(self, workdir: Path, memory_mb: int) -> None:
        self.workdir = workdir
        self.memory_mb = memory_mb
        self.km: Any = None
        self.kc: Any = None
        self.busy = False

    # --- start and stop -------------------------------------------------------------

    def __enter__(self) -> GradingKernel:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start(self) -> None:
        specs = self.workdir / ".kernels"
        (specs / _SPEC).mkdir(parents=True)
        argv = [sys.executable, str(_LAUNCH), "--memory-mb", str(self.memory_mb), "--",
                "-f", "{connection_file}"]
        (specs / _SPEC / "kernel.json").write_text(json.dumps(
            {"argv": argv, "display_name": "asynclab grading", "language": "python"}))
        env = dict(os.environ)
        env.update({
            "IPYTHONDIR": str(self.workdir / ".ipython"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / ".runtime"),
            # glibc gives each thread its own 64 MiB malloc arena: with an address-space
            # limit, a few pools of threads would use it up without using memory.
            "MALLOC_ARENA_MAX": "2",
            "PYTHONUNBUFFERED": "1",
        })
        self.km = KernelManager(
            kernel_name=_SPEC, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]),
            connection_file=str(self.workdir / ".runtime" / "kernel.json"), ip="127.0.0.1")
        (self.workdir / ".runtime").mkdir()
        self._log = open(self.workdir / "kernel.log", "wb")  # noqa: SIM115 (closed in close())
        self.km.start_kernel(cwd=str(self.workdir), env=env, stdout=self._log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=START_TIMEOUT)
        except RuntimeError as exc:
            raise KernelStartError(self._why_not_started(exc)) from None

    def _why_not_started(self, exc: BaseException) -> str:
        self._log.flush()
        lines = [ln.strip() for ln in (self.workdir / "kernel.log").read_text(
            errors="replace").splitlines() if ln.strip()]
        last = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines else "")
        if "MemoryError" in last:
            return "the kernel did not start: out of memory (is --memory-mb too low?)"
        return f"the kernel did not start: {last or exc}"[:200]

    def exit_code(self) -> int | None:
        process = getattr(self.km.provisioner, "process", None) if self.km else None
        return None if process is None else process.poll()

    def close(self) -> None:
        """Shut the kernel down (politely if it is idle), then kill its process group."""
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None and self.km.has_kernel:
                alive = self.km.is_alive()
                self.km.shutdown_kernel(now=self.busy or not alive)
        finally:
            if pid:  # the kernel ran in its own session: its pool workers, its subprocesses
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if getattr(self, "_log", None) is not None:
                self._log.close()
            self.kc = self.km = None

    # --- running cells --------------------------------------------------------------

    def execute(self, code: str, timeout: float) -> CellRun:
        """Run ``code`` as one cell; bounded by ``timeout``, then ``GRACE`` after an interrupt."""
        t0 = time.monotonic()
        msg_id = self.kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        self.busy = True
        run = self._wait(msg_id, t0 + timeout)
        if run is None:  # over time: interrupt it, and give it GRACE seconds to stop
            self.km.interrupt_kernel()
            run = self._wait(msg_id, time.monotonic() + GRACE)
            if run is None:
                run = CellRun("stuck")
                self.close()  # still busy: killed
            elif run.status != "dead":
                run = CellRun("timeout", run.error)
        run.seconds = time.monotonic() - t0
        if run.status != "stuck":
            self.busy = run.status == "dead"
        return run

    def _wait(self, msg_id: str, deadline: float) -> CellRun | None:
        """The cell's end, or None when ``deadline`` passes first."""
        error = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                msg = self.kc.get_iopub_msg(timeout=min(left, 0.25))
            except queue.Empty:
                if not self.km.is_alive():
                    return CellRun("dead", error)
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "error":
                error = f"{content.get('ename', '')}: {content.get('evalue', '')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return CellRun("error" if error else "ok", error)
