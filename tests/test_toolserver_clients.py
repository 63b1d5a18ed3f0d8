"""asynclab.toolserver against other clients than the notebooks use (curl, httpx sync and
async, urllib, aiohttp, a raw socket): every refusal is JSON naming why, nothing is
written to the kernel's stderr, no connection hangs, and a client that sends nothing or
half a request neither blocks others nor holds the stop."""

import asyncio
import json
import logging
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import httpx
import pytest
from asynclab import toolserver
from asynclab.toolserver import serve
from waiting import wait_for

STOP_BOUND = toolserver.STOP_GRACE + 1.0  # seconds the stop may take with clients stuck


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Send ``data``, read one answer (to its Content-Length, or until the server closes):
    status, headers, body. No whole answer within ``timeout`` fails the test (a hung
    connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        try:
            while not _complete(out) and (chunk := sock.recv(65536)):
                out += chunk
        except TimeoutError:
            raise AssertionError(f"the connection hung after {out[:200]!r}") from None
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _complete(out: bytes) -> bool:
    head, found, body = out.partition(b"\r\n\r\n")
    for line in head.lower().split(b"\r\n"):
        if found and line.startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def assert_quiet(capfd, caplog) -> None:
    """Nothing on stderr, and no warning logged: in a kernel, whose root logger has no
    handler, Python prints a logged warning on stderr (under pytest, caplog holds it)."""
    assert capfd.readouterr().err == ""
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def assert_stopped_promptly(start: float, sockets, bound: float, capfd, caplog) -> None:
    """The server's stop, timed from ``start`` (taken as its ``with`` block ended), took
    under ``bound`` seconds with these clients stuck; then they are closed, and nothing
    was printed or logged."""
    took = time.perf_counter() - start
    for sock in sockets:
        sock.close()
    assert took < bound, f"the stop took {took:.2f} s"
    assert_quiet(capfd, caplog)


def curl_text(*args: str) -> tuple[int, str]:
    """``curl`` with ``args`` (a subprocess, bounded): the HTTP status and the body."""
    done = subprocess.run(["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args],
                          capture_output=True, text=True, timeout=20, check=True)
    body, _, code = done.stdout.rpartition("\n")
    return int(code), body


@pytest.fixture
def server():
    with serve(latency=0.01) as srv:
        yield srv


# --- one request each, from clients the notebooks do not use ------------------------------

CLOSE = b"Connection: close\r\n"
REFUSALS = {  # request: status and what its JSON error names
    "HTTP/1.0 without Host": (b"GET /health HTTP/1.0\r\n\r\n", 200, None),
    "a body the route does not expect": (
        b"GET /health HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"Content-Length: 7\r\n\r\n{\"a\":1}",
        200, None),
    "an unknown route": (b"GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n", 404,
                         "no such endpoint"),
    "a wrong method": (b"DELETE /health HTTP/1.1\r\nHost: x\r\n" + CLOSE + b"\r\n", 405,
                       "method DELETE is not allowed"),
    "malformed JSON": (b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       + CLOSE + b"Content-Length: 5\r\n\r\n{bad}", 405, "only GET"),
    "a non-UTF-8 body": (b"POST /search HTTP/1.1\r\nHost: x\r\n" + CLOSE
                         + b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc", 405, "only GET"),
    "a non-UTF-8 path": (b"GET /weather/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400,
                         "illegal request line"),
    "a huge header": (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
                      431, "request head over 16 KiB"),
    "a huge body": (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"
                    + b"x" * 200_000, 413, "request body over 1 MiB"),
    "garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400, ""),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_a_raw_socket_gets_json_and_nothing_on_stderr(server, case, capfd, caplog):
    data, status, names = REFUSALS[case]
    got, headers, body = exchange(server.port, data)
    answer = json.loads(body) if headers.get("content-length") else None
    assert got == status, (got, body)
    assert headers["content-type"] == "application/json"
    if names is not None:
        assert answer["status"] == status and names in answer["error"], answer
    assert exchange(server.port, b"GET /health HTTP/1.0\r\n\r\n")[2] == b'{"ok":true}'
    assert_quiet(capfd, caplog)


def test_an_http_1_0_keep_alive_is_answered_then_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /page/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        out = b""
        while chunk := sock.recv(65536):  # uvicorn keeps no HTTP/1.0 connection: it closes
            out += chunk
    assert out.startswith(b"HTTP/1.1 200") and b"connection: close" in out.lower()
    assert json.loads(out.partition(b"\r\n\r\n")[2])["page"] == 1


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_gets_answers_and_json_errors(server):
    def curl(*args: str) -> tuple[int, dict]:
        code, body = curl_text(*args)
        return code, json.loads(body)

    assert curl(f"{server.url}/weather/Paris")[1]["city"] == "Paris"
    assert curl("--http1.0", f"{server.url}/search?q=curl")[1]["query"] == "curl"
    assert curl("-X", "PUT", "-d", "x=1", f"{server.url}/health") == (
        405, {"error": "method PUT is not allowed: only GET", "status": 405})
    assert curl(f"{server.url}/nowhere")[0] == 404
    code, body = curl("-H", "X-Big: " + "a" * 20_000, f"{server.url}/health")
    assert code == 431 and body["status"] == 431


def test_httpx_sync_and_async_clients(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/weather/Oslo").json()["city"] == "Oslo"
        bad = client.post("/weather/Oslo", json={"city": "Oslo"})
        assert bad.status_code == 405 and bad.headers["allow"] == "GET"

    async def main():
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            answers = await asyncio.gather(*(client.get(f"/page/{n}") for n in range(20)))
            missing = await client.get("/v2/page/1")
        return answers, missing

    answers, missing = asyncio.run(main())
    assert [a.json()["page"] for a in answers] == list(range(20))
    assert missing.status_code == 404 and missing.json()["status"] == 404


def test_urllib_gets_answers_and_http_errors_with_json_bodies(server):
    with urllib.request.urlopen(f"{server.url}/page/3", timeout=10) as answer:
        assert json.load(answer)["page"] == 3
    request = urllib.request.Request(f"{server.url}/health", data=b"\xff\xfe", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405 and json.load(refused.value)["status"] == 405
    refused.value.close()


def test_aiohttp_gets_answers_and_json_errors(server):
    import aiohttp  # in the test extras (pyproject.toml)

    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{server.url}/weather/Rome") as ok:
                good = await ok.json()
            async with session.patch(f"{server.url}/weather/Rome", data=b"{bad") as refused:
                return good, refused.status, await refused.json()

    good, status, refusal = asyncio.run(main())
    assert good["city"] == "Rome" and status == 405 and refusal["status"] == 405


def test_200_concurrent_requests_from_one_client_are_each_answered_right(server):
    async def main():
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            return await asyncio.gather(*(client.get(f"/page/{n}") for n in range(200)))

    server.reset_stats()
    answers = asyncio.run(main())
    assert [a.json()["page"] for a in answers] == list(range(200))
    stats = server.stats()
    assert stats["requests"] == stats["by_endpoint"]["page"] == 200
    assert stats["in_flight"] == 0 and stats["client_errors"] == 0


# --- clients that stall: the others are served, the stop stays prompt ----------------------

STALLS = {
    "sends nothing": b"",
    "half a request line": b"GET /hea",
    "half a head": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    "half a body": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    "a slow request, then no reading": b"GET /slow?seconds=20 HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("case", STALLS)
def test_a_stalled_client_does_not_block_others_or_the_stop(case, capfd, caplog):
    stalled = []
    with serve(latency=0) as srv:
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            sock.sendall(STALLS[case])
            stalled.append(sock)
        assert wait_for(lambda: srv.stats()["connections"] == 5), srv.stats()
        start = time.perf_counter()
        assert exchange(srv.port, b"GET /health HTTP/1.0\r\n\r\n")[2] == b'{"ok":true}'
        assert time.perf_counter() - start < 1.0
        start = time.perf_counter()
    assert_stopped_promptly(start, stalled, STOP_BOUND, capfd, caplog)
