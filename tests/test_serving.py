"""asynclab.serving: an ASGI app under uvicorn in a background thread, started and stopped
by a with-block, leaving no thread, socket or port behind (threads: see conftest.py); the
run-once lifecycle the three lab servers share (``Served``), misused; many servers at once,
in one process and in two."""

import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
import requests
import uvicorn
from asynclab import mcp_tools, modelserver, serving, toolserver
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"hello": request.query_params.get("name", "world")})


async def sleep(request):
    await asyncio.sleep(float(request.query_params["seconds"]))
    return JSONResponse({"slept": True})


async def stream(request):
    async def forever():
        while True:
            yield b"tick\n"
            await asyncio.sleep(0.01)

    return StreamingResponse(forever(), media_type="text/plain")


APP = Starlette(routes=[Route("/hello", hello), Route("/sleep", sleep), Route("/stream", stream)])


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def assert_refuses(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def send_get(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; b"" if it cut the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_it_starts_answers_and_stops_leaving_no_port(caplog, capfd):
    caplog.set_level(logging.DEBUG)
    before = listening_ports()
    with serving.serve(APP) as running:
        assert running.url == f"http://127.0.0.1:{running.port}"
        assert listening_ports() - before == {running.port}
        response = requests.get(running.url + "/hello?name=lab", timeout=10)
        assert response.json() == {"hello": "lab"}
    assert listening_ports() == before
    assert_refuses(running.port)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], caplog.text
    assert capfd.readouterr().err == ""  # no access log, no banner


def test_answers_on_a_kept_alive_connection_do_not_wait_for_delayed_acks():
    # uvicorn writes a response's head and body separately; without TCP_NODELAY on the
    # accepted socket, Nagle holds the body until the client's delayed ACK, ~40 ms later.
    with serving.serve(APP) as running, requests.Session() as session:
        took = []
        for _ in range(10):
            start = time.perf_counter()
            assert session.get(running.url + "/hello", timeout=10).ok
            took.append(time.perf_counter() - start)
    assert sorted(took)[5] < 0.02, took


def test_it_listens_on_loopback_only():
    with serving.serve(APP) as running:
        listening = [c.laddr.ip for c in psutil.Process().net_connections("inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == running.port]
        assert listening == ["127.0.0.1"]


def test_it_works_inside_a_running_loop():
    async def cell():  # a notebook cell with top-level await
        with serving.serve(APP) as running:
            async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
                return (await client.get("/hello")).json(), running.port

    answer, port = asyncio.run(cell())
    assert answer == {"hello": "world"}
    assert_refuses(port)


def test_a_fixed_port_is_reusable_at_once_and_a_taken_one_is_refused():
    with serving.serve(APP) as first:
        port = first.port
        assert requests.get(first.url + "/hello", timeout=10).ok
        with pytest.raises(OSError):
            with serving.serve(APP, port=port):
                pass
    with serving.serve(APP, port=port) as again:
        assert requests.get(again.url + "/hello", timeout=10).ok


def test_a_slow_request_in_flight_is_cut_after_the_grace(caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    with serving.serve(APP, grace=0.3) as running:
        client = send_get(running.port, "/sleep?seconds=30")
        time.sleep(0.2)  # it is being served
        start = time.perf_counter()
    took = time.perf_counter() - start
    with client:
        assert read_all(client) == b""  # closed without an answer
    assert 0.3 <= took < 1.5, took
    assert_refuses(running.port)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_a_request_that_ends_within_the_grace_gets_its_answer():
    with serving.serve(APP, grace=2) as running:
        client = send_get(running.port, "/sleep?seconds=0.3")
        time.sleep(0.1)
        start = time.perf_counter()
    took = time.perf_counter() - start
    with client:
        answer = read_all(client)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"slept":true}')
    assert took < 1.0, took  # it stopped when the request ended, not at the grace


def test_an_endless_stream_does_not_hold_the_stop():
    with serving.serve(APP, grace=0.2) as running:
        client = send_get(running.port, "/stream")
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        start = time.perf_counter()
    took = time.perf_counter() - start
    client.close()
    assert took < 1.0, took


@pytest.mark.parametrize("error", [ZeroDivisionError, KeyboardInterrupt])
def test_an_exception_in_the_block_still_stops_everything(error):
    before = set(threading.enumerate())
    with pytest.raises(error):
        with serving.serve(APP) as running:
            port = running.port
            raise error
    assert_refuses(port)
    assert set(threading.enumerate()) == before


def test_a_server_that_does_not_come_up_in_time_is_cleaned_up(monkeypatch):
    async def never(*args, **kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(uvicorn.Server, "startup", never)
    before = listening_ports()
    with pytest.raises(RuntimeError, match="did not start within 0.2 s"):
        with serving.serve(APP, start_timeout=0.2):
            pass
    assert listening_ports() == before


def test_an_app_that_fails_to_start_is_reported():
    @contextlib.asynccontextmanager
    async def lifespan(app):
        raise LookupError("no model here")
        yield

    before = listening_ports()
    with pytest.raises(RuntimeError, match="failed to start"):
        with serving.serve(Starlette(lifespan=lifespan), log_level="critical"):
            pass
    assert listening_ports() == before


BAD = [
    ({"app": 42}, TypeError, "app must be callable"),
    ({"app": APP, "port": -1}, ValueError, "port must be between 0 and 65535"),
    ({"app": APP, "grace": "1"}, TypeError, "grace must be a number"),
    ({"app": APP, "start_timeout": 0}, ValueError, "start_timeout must be greater than 0"),
    ({"app": APP, "no_such_option": 1}, TypeError, "no_such_option"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD, ids=[str(k) for k, _, _ in BAD])
def test_bad_arguments_are_refused_before_anything_starts(kwargs, error, message):
    before, ports = threading.active_count(), listening_ports()
    with pytest.raises(error, match=message):
        with serving.serve(**kwargs):
            pass
    assert threading.active_count() == before and listening_ports() == ports


# --- Served: the run-once lifecycle the lab's three servers share ---------------------------

SERVERS = {  # kind: how to make one quiet and fast, how to ask it one thing (its answer)
    "tool": (lambda **kw: toolserver.serve(latency=0, **kw),
             lambda s, n: requests.get(f"{s.url}/page/{n}", timeout=10).json()["page"]),
    "model": (lambda **kw: modelserver.serve(rpm=None, error_rate=0.0, time_scale=0.01, **kw),
              lambda s, n: requests.get(f"{s.base_url}/models", timeout=10, headers={
                  "authorization": f"Bearer {s.api_key}"}).json()["data"][0]["id"] and n),
    "mcp": (lambda **kw: mcp_tools.serve(latency=0, **kw),
            lambda s, n: requests.get(s.url, timeout=10).json()["error"]["code"] and n),
}
STOP_BOUND = {"tool": toolserver.STOP_GRACE + 1.0, "model": modelserver.STOP_GRACE + 1.0,
              "mcp": mcp_tools.STOP_GRACE + 1.0}  # seconds


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_has_no_address_before_it_starts_and_runs_once(kind):
    make, ask = SERVERS[kind]
    server = make()
    assert isinstance(server, serving.Served) and not server.running
    for name in ("port", "url"):
        with pytest.raises(RuntimeError, match="has no address yet: use it in a with-block"):
            getattr(server, name)
    with server as entered:
        assert entered is server and server.running and ask(server, 3) == 3
        with pytest.raises(RuntimeError, match="runs only once"), server:  # entered twice
            pass
        assert server.running and ask(server, 4) == 4  # the outer block still serves
    assert not server.running and "stopped" in repr(server)
    with pytest.raises(RuntimeError, match="runs only once"):
        server.__enter__()


@pytest.mark.parametrize("kind", SERVERS)
def test_after_the_stop_its_address_is_refused_and_a_second_stop_does_nothing(kind):
    make, _ = SERVERS[kind]
    with make() as server:
        url, port = server.url, server.port
        start = time.perf_counter()
    took = time.perf_counter() - start
    assert took < STOP_BOUND[kind], took
    assert (server.url, server.port) == (url, port)  # the address it had, where none listens
    assert_refuses(port)
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
    start = time.perf_counter()
    server.__exit__(None, None, None)
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize("error", [ZeroDivisionError, KeyboardInterrupt])
@pytest.mark.parametrize("kind", SERVERS)
def test_an_exception_or_interrupt_in_the_block_stops_it_within_its_bound(kind, error):
    make, ask = SERVERS[kind]
    before = set(threading.enumerate())
    with pytest.raises(error), make() as server:
        port = server.port
        assert ask(server, 1) == 1
        start = time.perf_counter()
        raise error
    took = time.perf_counter() - start
    assert took < STOP_BOUND[kind], took
    assert_refuses(port)
    assert set(threading.enumerate()) == before and not server.running


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_that_cannot_start_has_no_address_and_leaves_nothing(kind):
    make, _ = SERVERS[kind]
    before = set(threading.enumerate())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = make(port=taken.getsockname()[1])
        with pytest.raises(OSError):
            server.__enter__()
    with pytest.raises(RuntimeError, match="has no address yet"):
        server.url  # noqa: B018
    with pytest.raises(RuntimeError, match="runs only once"):
        server.__enter__()
    assert set(threading.enumerate()) == before


# --- many servers at once: in one process, and in two --------------------------------------


def test_three_servers_of_each_kind_at_once_keep_their_own_ports_and_counts():
    with contextlib.ExitStack() as stack:
        servers = [(kind, stack.enter_context(SERVERS[kind][0]()))
                   for kind in SERVERS for _ in range(3)]
        assert len({s.port for _, s in servers}) == 9
        with ThreadPoolExecutor(max_workers=24) as pool:  # 3, 4, 5... requests each
            jobs = [(i, n, pool.submit(SERVERS[kind][1], server, n))
                    for i, (kind, server) in enumerate(servers) for n in range(3 + i)]
            assert all(job.result() == n for _, n, job in jobs)
        counts = [s.stats()["requests"] for kind, s in servers if kind != "mcp"]
        servers[1][1].reset_stats()  # one server's reset touches no other
        after = [s.stats()["requests"] for kind, s in servers if kind == "tool"]
    assert counts == [3, 4, 5, 6, 7, 8]  # each its own requests only
    assert after == [3, 0, 5]


CHILD = """
import json, sys, requests
from asynclab import toolserver, modelserver
with toolserver.serve(latency=0) as a, toolserver.serve(latency=0) as b, \\
        modelserver.serve(rpm=None, error_rate=0.0) as m:
    print(json.dumps([a.port, b.port, m.port]), flush=True)
    sys.stdin.readline()
    pages = [requests.get(f"{s.url}/page/{n}", timeout=10).json()["page"]
             for s in (a, b) for n in range(20)]
    print(json.dumps([pages, a.stats()["requests"], b.stats()["requests"],
                      m.stats()["requests"]]), flush=True)
"""


def test_two_processes_each_with_their_own_servers_never_share_a_port_or_a_count():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        theirs = json.loads(child.stdout.readline())
        with toolserver.serve(latency=0) as mine, modelserver.serve(rpm=None) as model:
            assert not {mine.port, model.port} & set(theirs)
            child.stdin.write("go\n")
            child.stdin.flush()
            pages = [requests.get(f"{mine.url}/page/{n}", timeout=10).json()["page"]
                     for n in range(30)]
            pages_there, a, b, m = json.loads(child.stdout.readline())
            assert mine.stats()["requests"] == 30 and model.stats()["requests"] == 0
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdin.close()
        child.stdout.close()
    assert pages == list(range(30)) and pages_there == [*range(20), *range(20)]
    assert (a, b, m) == (20, 20, 0)
