"""asynclab.serving: an ASGI app under uvicorn in a background thread, started and stopped
by a with-block, leaving no thread, socket or port behind (threads: see conftest.py)."""

import asyncio
import contextlib
import logging
import socket
import threading
import time

import httpx
import psutil
import pytest
import requests
import uvicorn
from asynclab import serving
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
