"""The classroom load test: K learners run the same notebook at once, each in a fresh kernel.

    python tools/classroom.py [--learners 3 5] [--history memory|shared|off]
                              [--cell-timeout 60] [--spy-after 30] [--kernel python3]
                              [--poll-slice 1] [--report PATH] [notebooks ...]

For each notebook (default: every notebooks/NN_*.ipynb) and each K, K copies run at the
same time, each in its own fresh kernel (nbclient, as tests/kernel_harness.py runs them),
every cell top to bottom as Run All does. A cell that runs longer than ``--cell-timeout``
seconds (60) fails its copy. Per notebook and K it reports the copies that finished clean,
the copies that failed (the failing cell and its error), the slowest cell of each copy
and the slowest copy, and the stalls (a request the kernel picked up late, or a reply we
saw late), as a table on stdout, in artifacts/classroom/report-K<k...>.md and as JSON
beside it (``--report PATH`` elsewhere). The exit status is 1 if any copy failed.

``--history`` chooses where the kernels keep IPython's input history: ``memory`` (each
kernel in its own memory, as the lab's kernels are started by ``make lab``), ``shared``
(one sqlite file for every kernel of the run, as on a hub where a learner's kernels, or a
class sharing one account, all write ~/.ipython/profile_default/history.sqlite) or
``off``. If ``py-spy`` is installed, a cell still running after ``--spy-after`` seconds
has its kernel's stacks dumped once (``py-spy dump``) into artifacts/classroom/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from kernel_waits import POLL_SLICE, sliced_waits
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

__all__ = ["CopyResult", "Failure", "main", "report_table", "run_class", "run_notebook"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts" / "classroom"
KERNEL_NAME = "python3"
CELL_TIMEOUT = 60.0  # seconds: a cell slower than this fails its copy
START_TIMEOUT = 120.0  # seconds for a kernel to start and answer, K of them starting at once
HISTORY_MODES = ("memory", "shared", "off")
STALL_SECONDS = 5.0  # a request unread, or a reply unseen, this long is a stall


@dataclass
class Failure:
    """Where and how one copy stopped."""

    cell: int  # index of the cell in the notebook (0-based, markdown cells counted)
    first_line: str  # the cell's first source line, to find it while notebooks change
    kind: str  # "error", "timeout", "dead kernel" or "start"
    message: str  # the error's name and value (an assert's message), or what timed out


@dataclass
class CopyResult:
    """One learner's copy of one notebook."""

    notebook: str
    learners: int
    copy: int
    start_seconds: float = 0.0  # starting the kernel
    seconds: float = 0.0  # running the cells (not the kernel start)
    cells: list[tuple[int, float]] = field(default_factory=list)  # (cell index, seconds)
    failure: Failure | None = None
    spy_dumps: list[str] = field(default_factory=list)  # files written by py-spy
    # Cells where the kernel picked the request up late, or its reply reached us late:
    # (cell index, seconds from our request to the kernel's busy status, seconds from the
    # kernel's reply to our receiving it); None where that message never came.
    stalls: list[tuple[int, float | None, float | None]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.failure is None

    def slowest_cell(self) -> tuple[int, float] | None:
        return max(self.cells, key=lambda c: c[1]) if self.cells else None


def _first_line(cell) -> str:
    for line in cell.source.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


def _message(exc: BaseException) -> str:
    if isinstance(exc, CellExecutionError) and getattr(exc, "ename", None):
        return f"{exc.ename}: {exc.evalue}".strip()[:500]
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: " + (lines[-1] if lines else "")[:500]


def _kernel_time(cell, key: str) -> datetime | None:
    stamp = cell.metadata.get("execution", {}).get(key)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _stall(cell, index: int, sent: datetime, received: datetime):
    """(index, pickup s, reply lag s) if the kernel took the request up late or its reply
    reached us late (clocks of one machine: the kernel stamps its messages), else None."""
    busy = _kernel_time(cell, "iopub.status.busy")
    reply = _kernel_time(cell, "shell.execute_reply")
    pickup = (busy - sent).total_seconds() if busy else None
    lag = (received - reply).total_seconds() if reply else None
    late = [x for x in (pickup, lag) if x is not None and x > STALL_SECONDS]
    if late or busy is None:
        return (index, pickup, lag)
    return None


def _timeout_message(cell, cell_timeout: float) -> str:
    """A cell over the limit: did the kernel run it too long, or never start it?"""
    seen = cell.metadata.get("execution", {})
    if "iopub.execute_input" in seen or "iopub.status.busy" in seen:
        return f"ran over {cell_timeout:g} s"
    # The kernel never announced the request (no busy status, no execute_input): it sat
    # idle while the request waited unread on its shell socket.
    return f"never started within {cell_timeout:g} s: the kernel did not pick up the request"


def _history_args(history: str, shared_file: Path | None) -> list[str]:
    if history == "off":
        return ["--HistoryManager.enabled=False"]
    if history == "shared":
        return [f"--HistoryManager.hist_file={shared_file}"]
    return ["--HistoryManager.hist_file=:memory:"]


def _kernel_pid(client: NotebookClient) -> int | None:
    provisioner = getattr(client.km, "provisioner", None)
    return getattr(provisioner, "pid", None)


async def _spy(pid: int, out: Path) -> str | None:
    """``py-spy dump`` of a kernel (bounded), written to ``out``; None without py-spy."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return None
    proc = await asyncio.create_subprocess_exec(
        spy, "dump", "--pid", str(pid), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        text, _ = await asyncio.wait_for(proc.communicate(), 30)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text)
    return str(out)


async def _run_copy(path: Path, learners: int, copy: int, *, cell_timeout: float,
                    history: str, shared_file: Path | None, spy_after: float | None,
                    spy_dir: Path, kernel: str, poll_slice: float | None) -> CopyResult:
    result = CopyResult(path.stem, learners, copy)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=cell_timeout, kernel_name=kernel, startup_timeout=START_TIMEOUT,
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=_history_args(history, shared_file), ipython_hist_file="",
        shutdown_kernel="immediate", record_timing=True,
    )
    started = time.perf_counter()
    try:
        async with client.async_setup_kernel():
            result.start_seconds = time.perf_counter() - started
            if poll_slice:
                sliced_waits(client.kc.shell_channel, poll_slice)
                sliced_waits(client.kc.iopub_channel, poll_slice)
            begin = time.perf_counter()
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue  # nbclient sends no request for an empty cell
                watcher = None
                pid = _kernel_pid(client)
                if spy_after is not None and pid is not None:
                    out = spy_dir / f"{path.stem}-K{learners}-copy{copy}-cell{index}.txt"
                    watcher = asyncio.create_task(_spy_later(spy_after, pid, out, result))
                t0, sent = time.perf_counter(), datetime.now(UTC)
                try:
                    await client.async_execute_cell(cell, index)
                except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
                    kind = {CellTimeoutError: "timeout", DeadKernelError: "dead kernel"}.get(
                        type(exc), "error")
                    message = _timeout_message(cell, cell_timeout) if kind == "timeout" \
                        else _message(exc)
                    result.failure = Failure(index, _first_line(cell), kind, message)
                finally:
                    result.cells.append((index, time.perf_counter() - t0))
                    stall = _stall(cell, index, sent, datetime.now(UTC))
                    if stall is not None:
                        result.stalls.append(stall)
                    if watcher is not None:
                        watcher.cancel()
                        await asyncio.gather(watcher, return_exceptions=True)
                if result.failure is not None:
                    break
            result.seconds = time.perf_counter() - begin
    except (RuntimeError, TimeoutError) as exc:  # the kernel did not start
        if result.failure is None:
            result.failure = Failure(-1, "", "start", _message(exc))
    return result


async def _spy_later(delay: float, pid: int, out: Path, result: CopyResult) -> None:
    await asyncio.sleep(delay)
    written = await _spy(pid, out)
    if written:
        result.spy_dumps.append(written)


async def _run_notebook_async(path: Path, learners: int, **options) -> list[CopyResult]:
    copies = [_run_copy(path, learners, n + 1, **options) for n in range(learners)]
    return list(await asyncio.gather(*copies))


def run_notebook(path: Path | str, learners: int, *, cell_timeout: float = CELL_TIMEOUT,
                 history: str = "memory", spy_after: float | None = None,
                 spy_dir: Path = ARTIFACTS, kernel: str = KERNEL_NAME,
                 poll_slice: float | None = POLL_SLICE) -> list[CopyResult]:
    """Run ``learners`` copies of one notebook at once, each in a fresh kernel."""
    path = Path(path)
    _validate([path], [learners], cell_timeout, history, spy_after)
    if poll_slice is not None and not (isinstance(poll_slice, int | float) and poll_slice > 0):
        raise ValueError(f"poll_slice must be seconds > 0 or None, got {poll_slice!r}")
    with tempfile.TemporaryDirectory(prefix="classroom-history-") as tmp:
        shared = Path(tmp) / "history.sqlite"
        return asyncio.run(_run_notebook_async(
            path, learners, cell_timeout=cell_timeout, history=history, shared_file=shared,
            spy_after=spy_after, spy_dir=spy_dir, kernel=kernel, poll_slice=poll_slice))


def run_class(notebooks: list[Path], learners_list: list[int], **options) -> list[CopyResult]:
    """Every notebook at every K, one notebook at a time; the results of every copy."""
    _validate(notebooks, learners_list, options.get("cell_timeout", CELL_TIMEOUT),
              options.get("history", "memory"), options.get("spy_after"))
    results: list[CopyResult] = []
    for learners in learners_list:
        for path in notebooks:
            copies = run_notebook(path, learners, **options)
            results += copies
            print(_line(copies), flush=True)
    return results


def _validate(notebooks, learners_list, cell_timeout, history, spy_after) -> None:
    for k in learners_list:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"learners must be whole numbers >= 1, got {k!r}")
    if not learners_list:
        raise ValueError("learners: give at least one K, e.g. --learners 3 5")
    if not (isinstance(cell_timeout, int | float) and cell_timeout > 0):
        raise ValueError(f"cell_timeout must be a number of seconds > 0, got {cell_timeout!r}")
    if history not in HISTORY_MODES:
        raise ValueError(f"history must be one of {', '.join(HISTORY_MODES)}, got {history!r}")
    if spy_after is not None and not (isinstance(spy_after, int | float) and spy_after > 0):
        raise ValueError(f"spy_after must be seconds > 0 or None, got {spy_after!r}")
    for path in notebooks:
        if Path(path).suffix != ".ipynb" or not Path(path).is_file():
            raise ValueError(f"notebooks: {path} is not an existing .ipynb file")


def _line(copies: list[CopyResult]) -> str:
    clean = sum(c.clean for c in copies)
    slowest = max(copies, key=lambda c: c.seconds)
    return (f"{copies[0].notebook} K={copies[0].learners}: {clean}/{len(copies)} clean, "
            f"slowest copy {slowest.seconds:.1f} s")


def report_table(results: list[CopyResult]) -> str:
    """A markdown table: per notebook and K, clean and failed copies, each copy's slowest
    cell, the slowest copy; then each failure with its cell and error."""
    rows = ["| notebook | K | clean | failed | slowest cell of each copy (cell: s) "
            "| slowest copy (s) | kernel start, max (s) |",
            "|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, int], list[CopyResult]] = {}
    for r in results:
        groups.setdefault((r.notebook, r.learners), []).append(r)
    failures = []
    for (name, k), copies in groups.items():
        cells = ", ".join(f"{c[0]}: {c[1]:.1f}" if (c := r.slowest_cell()) else "-"
                          for r in copies)
        slowest = max(r.seconds for r in copies)
        start = max(r.start_seconds for r in copies)
        failed = [r for r in copies if not r.clean]
        rows.append(f"| {name} | {k} | {len(copies) - len(failed)} | {len(failed)} | {cells} "
                    f"| {slowest:.1f} | {start:.1f} |")
        failures += [(name, k, r) for r in failed]
    stalls = [(r, st) for r in results for st in r.stalls]
    if stalls:
        rows += ["", f"Stalls (a request picked up, or a reply seen, over {STALL_SECONDS:g} s "
                 "late; '-' = never):"]
        for r, (index, pickup, lag) in stalls:
            show = [f"{x:.1f} s" if x is not None else "-" for x in (pickup, lag)]
            rows.append(f"- {r.notebook} K={r.learners} copy {r.copy}: cell {index}, "
                        f"picked up after {show[0]}, reply seen {show[1]} after it was sent")
    if failures:
        rows += ["", "Failures:"]
        for name, k, r in failures:
            f = r.failure
            rows.append(f"- {name} K={k} copy {r.copy}: cell {f.cell} ({f.first_line!r}), "
                        f"{f.kind}: {f.message}")
    return "\n".join(rows)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/NN_*.ipynb)")
    parser.add_argument("--learners", nargs="+", default=["3", "5"],
                        help="K: copies run at once (default: 3 5)")
    parser.add_argument("--history", choices=HISTORY_MODES, default="memory")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT)
    parser.add_argument("--poll-slice", type=float, default=POLL_SLICE,
                        help="longest single wait on a kernel channel, s (0: one wait per "
                        "cell, as nbclient does: shows zmq's missed wake-ups)")
    parser.add_argument("--report", type=Path, default=None,
                        help="where to write the table (.md) and the copies (.json); "
                        "default artifacts/classroom/report-K<k...>")
    parser.add_argument("--kernel", default=KERNEL_NAME,
                        help="the kernel spec to run (default: python3)")
    parser.add_argument("--spy-after", type=float, default=None,
                        help="seconds after which a running cell's kernel is dumped by py-spy")
    args = parser.parse_args(argv)
    # `--learners 3 5 notebooks/04_x.ipynb`: the numbers are K, what follows is a notebook.
    numbers = [t for t in args.learners if t.strip().lstrip("-").isdigit()]
    args.notebooks += [Path(t) for t in args.learners if t not in numbers]
    args.learners = [int(t) for t in numbers]
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    notebooks = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb"))
    try:
        _validate(notebooks, args.learners, args.cell_timeout, args.history, args.spy_after)
    except ValueError as exc:
        print(f"classroom.py: {exc}", file=sys.stderr)
        return 2
    print(f"{len(notebooks)} notebooks, K = {args.learners}, history {args.history}, "
          f"kernel {args.kernel}, "
          f"{os.cpu_count()} cores", flush=True)
    results = run_class(notebooks, args.learners, cell_timeout=args.cell_timeout,
                        history=args.history, spy_after=args.spy_after, kernel=args.kernel,
                        poll_slice=args.poll_slice or None)
    table = report_table(results)
    print("\n" + table)
    tag = "-".join(f"K{k}" for k in args.learners)
    report = args.report or ARTIFACTS / f"report-{tag}"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.with_suffix(".md").write_text(table + "\n")
    report.with_suffix(".json").write_text(json.dumps(
        [asdict(r) | {"clean": r.clean} for r in results], indent=1))
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
