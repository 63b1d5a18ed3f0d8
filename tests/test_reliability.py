"""Reliability: nothing hangs, nothing leaks, an interrupt leaves a usable kernel, and
Restart & Run All twice gives the same checked outputs.

The notebook-level tests share one kernel per notebook with tests/test_widgets_all.py
(``kernel_harness.first_run``: execute, check leaks, sweep the widgets, check again), and
execute each notebook once more in a fresh kernel for the rerun comparison.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import warnings

import psutil
import pytest
from asynclab.toolserver import serve
from kernel_harness import (
    Kernel,
    comparable_outputs,
    execute_notebook,
    first_run,
    notebook_paths,
)
from waiting import wait_for

NOTEBOOKS = notebook_paths()
IDS = [p.stem for p in NOTEBOOKS]

# Leaks found in notebooks, reported to their authors; strict, so the test says when the
# notebook is fixed and the entry can go.
KNOWN_LEAKS: dict[str, str] = {}
LEAK_CASES = [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_LEAKS[p.stem]))
    if p.stem in KNOWN_LEAKS else p
    for p in NOTEBOOKS
]


def describe(leaks: dict) -> str:
    return "\n".join(f"  {kind}: {item}" for kind, items in leaks.items() for item in items)


# --- 2. no leaks, per notebook ---------------------------------------------------------


@pytest.mark.timeout(600)  # the first of the notebook tests runs the notebook and its sweep
@pytest.mark.parametrize("path", LEAK_CASES, ids=IDS)
def test_notebook_leaves_no_thread_task_process_socket_or_patch(path):
    run = first_run(path)
    assert run.error is None, f"{path.name} failed: {run.error}"
    assert not run.leaks_after_notebook, (
        f"{path.name} left behind after Run All:\n{describe(run.leaks_after_notebook)}"
    )
    assert not run.leaks_after_sweep, (
        f"{path.name} left behind after its widget sweep:\n{describe(run.leaks_after_sweep)}"
    )
    print(f"{path.name}: executed in {run.seconds:.1f} s, no leaks after Run All and after "
          f"{len(run.sweep['cases'])} widget runs")


# --- 6. Restart & Run All twice gives the same checked outputs -------------------------


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_run_all_twice_gives_the_same_outputs(path):
    first = first_run(path)  # shared with the leak and widget tests
    assert first.error is None, f"{path.name} failed on the first run: {first.error}"
    start = time.perf_counter()
    nb, error = execute_notebook(path)
    took = time.perf_counter() - start
    assert error is None, f"{path.name} failed on the second run: {error}"
    one, two = comparable_outputs(first.nb), comparable_outputs(nb)
    differ = [i for i in one if one[i] != two[i]]
    details = "\n".join(f"cell {i}:\n  first:  {one[i]}\n  second: {two[i]}" for i in differ[:3])
    assert not differ, f"{path.name}: cells {differ} differ between two runs\n{details}"
    print(f"{path.name}: {len(one)} cells compared, second run took {took:.1f} s")


# --- 3. interrupting an experiment -----------------------------------------------------

SETUP = """
import asyncio, socket, time
import asynclab
PORTS = []
"""

RUN_EXPERIMENT = """
async def experiment():
    with asynclab.toolserver.serve(latency=0.01) as server, asynclab.traced_pool(2, name="pool") as pool:
        PORTS.append(server.port)
        loop = asyncio.get_running_loop()
        with asynclab.record():
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /slow?seconds=25 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            await writer.drain()
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.01) for _ in range(4)))
            await asyncio.to_thread(time.sleep, 0.01)
            print("started", flush=True)
            try:
                await asyncio.sleep(30)
            finally:
                writer.close()

asynclab.run(experiment(), timeout=60)
"""

TOP_LEVEL_AWAIT = """
with asynclab.record() as tl:
    async with asynclab.heartbeat() as hb:
        with asynclab.toolserver.serve(latency=0.01) as server:
            PORTS.append(server.port)
            await asyncio.to_thread(time.sleep, 0.01)
            print("started", flush=True)
            await asyncio.sleep(30)
"""

AFTERWARDS = """
for port in PORTS:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError(f"port {port} still accepts connections")
async def again():
    with asynclab.toolserver.serve(latency=0.01) as server, asynclab.record() as tl:
        await asyncio.gather(asyncio.sleep(0.02), asyncio.to_thread(time.sleep, 0.01))
    return len(tl.tasks)
print("tasks recorded:", asynclab.run(again(), timeout=30))
with asynclab.record() as tl2:
    await asyncio.sleep(0.01)
print("usable", asynclab.is_patched())
"""


def interrupt_and_check(code: str, expected: str) -> None:
    """Start ``code`` in a fresh kernel, interrupt it once it prints "started", and check
    the cell ends promptly with ``expected``, nothing leaks and the kernel still works."""
    with Kernel() as kernel:
        kernel.baseline()
        assert kernel.run(SETUP).status == "ok"
        started = kernel.start(code)
        reply = kernel.wait(started, 60, until=lambda r: "started" in r.stdout or r.status != "ok")
        assert reply.status == "ok", (reply.ename, reply.evalue, reply.stderr)
        time.sleep(1.0)  # the experiment is in its 30 s wait
        t0 = time.perf_counter()
        kernel.km.interrupt_kernel()
        reply = kernel.wait(started, 30)
        took = time.perf_counter() - t0
        assert reply.ename == expected, (reply.status, reply.ename, reply.evalue, reply.stderr)
        assert took < 10, f"the interrupted cell took {took:.1f} s to end"
        leaks = kernel.leaks()
        assert not leaks, f"left behind after the interrupt:\n{describe(leaks)}"
        after = kernel.run(AFTERWARDS, timeout=60)
        assert after.status == "ok", (after.ename, after.evalue, after.stderr)
        assert "usable False" in after.stdout, after.stdout
        assert not kernel.leaks()
        print(f"interrupt to {expected}: {took:.2f} s; next cell ran in {after.seconds:.2f} s")


@pytest.mark.timeout(120)
def test_interrupting_an_asynclab_run_experiment_leaves_a_usable_kernel():
    interrupt_and_check(RUN_EXPERIMENT, "KeyboardInterrupt")


@pytest.mark.timeout(120)
def test_interrupting_a_top_level_await_cell_leaves_a_usable_kernel():
    # ipykernel 7 turns an interrupt of a top-level-await cell into cancelling the cell's
    # task (IPythonKernel._cancel_on_sigint), so the learner sees CancelledError there.
    interrupt_and_check(TOP_LEVEL_AWAIT, "CancelledError")


CANCEL_FROM_INSIDE = """
async def cancelled_from_inside():
    with asynclab.toolserver.serve(latency=0.01) as server, asynclab.traced_pool(2) as pool:
        PORTS.append(server.port)
        loop = asyncio.get_running_loop()
        with asynclab.record():
            await loop.run_in_executor(pool, time.sleep, 0.01)
            worker = asyncio.create_task(asyncio.sleep(30))
            asyncio.current_task().cancel()
            await worker

try:
    asynclab.run(cancelled_from_inside(), timeout=30)
except asyncio.CancelledError:
    print("CancelledError")
"""


@pytest.mark.timeout(120)
def test_an_experiment_cancelled_from_inside_raises_cancelled_error_in_a_kernel():
    with Kernel() as kernel:
        kernel.baseline()
        assert kernel.run(SETUP).status == "ok"
        reply = kernel.run(CANCEL_FROM_INSIDE, timeout=30)
        assert reply.status == "ok", (reply.ename, reply.evalue, reply.stderr)
        assert reply.stdout.strip() == "CancelledError" and not reply.stderr, reply
        assert reply.seconds < 10
        leaks = kernel.leaks()
        assert not leaks, f"left behind after the cancellation:\n{describe(leaks)}"
        after = kernel.run(AFTERWARDS, timeout=60)
        assert after.status == "ok" and "usable False" in after.stdout, after


@pytest.mark.timeout(60)
def test_an_experiment_cancelled_from_inside_raises_cancelled_error_in_a_script():
    import asynclab

    ports = []

    async def cancelled_from_inside():
        with serve(latency=0.01) as server, asynclab.traced_pool(2) as pool:
            ports.append(server.port)
            with asynclab.record():
                await asyncio.get_running_loop().run_in_executor(pool, time.sleep, 0.01)
                worker = asyncio.create_task(asyncio.sleep(30))
                asyncio.current_task().cancel()
                await worker

    start = time.perf_counter()
    with pytest.raises(asyncio.CancelledError):
        asynclab.run(cancelled_from_inside(), timeout=30)
    assert time.perf_counter() - start < 10
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports[0]), timeout=2).close()
    # threads and the recorder's patch: checked by the autouse fixture in conftest.py


# --- 5. the tool server under stress (what tests/test_toolserver.py does not cover) ----


def open_slow_requests(port: int, n: int) -> list[socket.socket]:
    clients = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /slow?seconds=25 HTTP/1.1\r\nHost: localhost\r\n\r\n")
        clients.append(sock)
    return clients


@pytest.mark.timeout(120)
def test_stopping_with_200_requests_in_flight_is_clean_and_the_port_is_reusable(caplog):
    caplog.set_level(logging.DEBUG)
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with serve(latency=0) as srv:
            port = srv.port
            clients = open_slow_requests(port, 200)
            assert wait_for(lambda: srv.stats()["in_flight"] == 200, timeout=10), srv.stats()
            start = time.perf_counter()
        took = time.perf_counter() - start
        for sock in clients:
            with sock:
                try:
                    assert sock.recv(1024) == b""  # closed without an answer
                except ConnectionResetError:
                    pass
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # A fixed port is free again at once, and the new server answers.
        with serve(latency=0, port=port) as again:
            with socket.create_connection(("127.0.0.1", again.port), timeout=10) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert sock.recv(1024).startswith(b"HTTP/1.1 200")
    assert took < 3.0, f"stopping with 200 requests in flight took {took:.2f} s"
    assert set(threading.enumerate()) == before
    assert not caught, [str(w.message) for w in caught]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    print(f"stopped with 200 requests in flight in {took:.2f} s")


@pytest.mark.timeout(60)
def test_the_server_listens_on_loopback_only():
    with serve() as srv:
        listening = [c for c in psutil.Process().net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == srv.port]
        assert [c.laddr.ip for c in listening] == ["127.0.0.1"], listening
        others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                  if a.family == socket.AF_INET and not a.address.startswith("127.")]
        for address in others:  # reachable from this machine's other addresses? must not be
            with pytest.raises(OSError):
                socket.create_connection((address, srv.port), timeout=2).close()
