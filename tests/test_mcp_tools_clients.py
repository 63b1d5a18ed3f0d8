"""asynclab.mcp_tools against other clients than the official MCP client: curl, httpx, a
raw socket. Every refusal is a JSON-RPC error (as the SDK words its own), even for a
request the HTTP parser cannot read, a foreign Host, or a path that is not /mcp; nothing
is written to the kernel's stderr; a client that stalls or leaves mid-call neither blocks
others nor holds the stop. (The official client's own cases, listing tools, an unknown
tool and wrong arguments, are in test_mcp_tools.py.)"""

import asyncio
import json
import shutil
import socket
import time

import httpx
import pytest
from asynclab import mcp_tools
from test_mcp_tools import run, session
from test_toolserver_clients import assert_quiet, assert_stopped_promptly, curl_text, exchange
from waiting import wait_for

STOP_BOUND = mcp_tools.STOP_GRACE + 1.0  # seconds the stop may take with clients stuck
ACCEPT = "application/json, text/event-stream"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "curl", "version": "1"}}}


def request(desk, method: bytes, path: bytes = b"/mcp", body: bytes = b"", *,
            host: bytes | None = None, extra: bytes = b"") -> bytes:
    host = f"127.0.0.1:{desk.port}".encode() if host is None else host
    return (method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n"
            + b"Accept: " + ACCEPT.encode() + b"\r\n" + extra + b"Content-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


JSON = b"Content-Type: application/json\r\n"
REFUSALS = {  # request (given the server): status, JSON-RPC error code, words of the message
    "an unknown route": (lambda d: request(d, b"GET", b"/v1/nowhere"), 404, -32600,
                         "no MCP endpoint at '/v1/nowhere'"),
    "HTTP/1.0 without Host": (lambda d: b"GET /mcp HTTP/1.0\r\n\r\n", 421, -32600,
                              "Invalid Host header"),
    "a foreign Host": (lambda d: request(d, b"POST", host=b"evil.example:80", extra=JSON,
                                         body=b"{}"), 421, -32600, "Invalid Host header"),
    "a Host without its port": (lambda d: request(d, b"GET", host=b"127.0.0.1"), 421, -32600,
                                "127.0.0.1:PORT"),
    "a foreign Origin": (lambda d: request(d, b"POST", body=b"{}", extra=JSON
                                           + b"Origin: http://evil.example\r\n"), 403, -32600,
                         "Invalid Origin header"),
    "a wrong method": (lambda d: request(d, b"PUT", body=b"{}"), 405, -32600, "Method Not"),
    "a body that is not JSON": (lambda d: request(d, b"POST", body=b"x=1"), 400, -32600,
                                "Invalid Content-Type header"),
    "malformed JSON": (lambda d: request(d, b"POST", body=b"{bad", extra=JSON), 400, -32700,
                       "Parse error"),
    "a non-UTF-8 body": (lambda d: request(d, b"POST", body=b"\xff\xfe", extra=JSON), 400,
                         -32700, "Parse error"),
    "a huge body": (lambda d: request(d, b"POST", body=b" " * 5_000_000, extra=JSON), 413,
                    -32600, "Request body too large"),
    "a huge header": (lambda d: request(d, b"GET", extra=b"X-Big: " + b"a" * 70_000 + b"\r\n"),
                      431, -32600, "request head over 16 KiB"),
    "a garbled request line": (lambda d: b"GARBAGE\r\n\r\n", 400, -32600,
                               "illegal request line"),
}


@pytest.fixture
def desk():
    with mcp_tools.serve(latency=0.0, legacy_latency=0.0) as server:
        yield server


@pytest.mark.parametrize("case", REFUSALS)
def test_every_refusal_is_a_json_rpc_error_and_nothing_reaches_stderr(desk, case, capfd,
                                                                       caplog):
    make, status, code, words = REFUSALS[case]
    got, headers, body = exchange(desk.port, make(desk))
    assert got == status, (got, body)
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["jsonrpc"] == "2.0" and answer["id"] is None, answer
    assert answer["error"]["code"] == code and words in answer["error"]["message"], answer

    async def still_serving():
        async with session(desk.url) as s:
            return await s.call_tool("search", {"query": "still here"})

    assert not run(still_serving()).is_error
    assert_quiet(capfd, caplog)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_opens_a_session_and_gets_json_errors(desk):
    def curl(*args: str) -> tuple[int, str]:
        return curl_text("-H", f"Accept: {ACCEPT}", *args)

    code, body = curl("-H", "Content-Type: application/json", "-d", json.dumps(INITIALIZE),
                      desk.url)
    assert code == 200 and "asynclab research desk" in body
    code, body = curl(desk.url.removesuffix("/mcp") + "/sse")
    assert code == 404 and json.loads(body)["error"]["code"] == -32600
    code, body = curl("-d", "{}", desk.url)  # curl's default form Content-Type
    assert code == 400 and "Content-Type" in json.loads(body)["error"]["message"]


def test_httpx_speaks_json_rpc_to_it_by_hand(desk):
    with httpx.Client(headers={"Accept": ACCEPT}, timeout=10) as http:
        opened = http.post(desk.url, json=INITIALIZE)
        assert opened.status_code == 200
        sid = {"mcp-session-id": opened.headers["mcp-session-id"],
               "mcp-protocol-version": "2025-06-18"}
        http.post(desk.url, headers=sid,
                  json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = http.post(desk.url, headers=sid,
                          json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        unknown = http.post(desk.url, headers={**sid, "mcp-session-id": "no-such-session"},
                            json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
        closed = http.delete(desk.url, headers=sid)
    assert all(f'"name":"{tool}"' in tools.text for tool in mcp_tools.TOOLS)
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == (
        "Session not found")
    assert closed.status_code == 200


# --- clients that stall or leave mid-call -------------------------------------------------

STALLS = {
    "sends nothing": lambda d: b"",
    "half a head": lambda d: b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-Sl",
    "half a body": lambda d: request(d, b"POST", body=json.dumps(INITIALIZE).encode(),
                                     extra=JSON)[:-10],
}


@pytest.mark.parametrize("case", STALLS)
def test_a_stalled_client_does_not_block_others_or_the_stop(case, capfd, caplog):
    stalled = []
    with mcp_tools.serve(latency=0.0) as desk:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", desk.port), timeout=5)
            sock.sendall(STALLS[case](desk))
            stalled.append(sock)

        async def others():
            async with session(desk.url) as s:
                return await s.call_tool("fetch_page", {"url": "7"})

        assert mcp_tools.text(run(others(), timeout=10)).startswith("Page 7.")
        start = time.perf_counter()
    assert_stopped_promptly(start, stalled, STOP_BOUND, capfd, caplog)


def test_a_client_that_leaves_mid_call_leaves_the_server_serving(capfd, caplog):
    with mcp_tools.serve(latency=0.0, legacy_latency=0.5) as desk:
        with httpx.Client(headers={"Accept": ACCEPT}, timeout=10) as http:
            opened = http.post(desk.url, json=INITIALIZE)
            sid = {"mcp-session-id": opened.headers["mcp-session-id"],
                   "mcp-protocol-version": "2025-06-18"}
            http.post(desk.url, headers=sid,
                      json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "legacy_report", "arguments": {"topic": "gone"}}}
            with pytest.raises(httpx.ReadTimeout):
                http.post(desk.url, headers=sid, json=call, timeout=0.1)  # it goes away
        assert wait_for(lambda: desk.stats()["in_flight"] == 0, timeout=3), desk.stats()

        async def others():
            async with session(desk.url) as s:
                return await s.call_tool("search", {"query": "after"})

        assert not run(others(), timeout=10).is_error
        start = time.perf_counter()
    assert time.perf_counter() - start < STOP_BOUND
    assert desk.stats()["calls"]["legacy_report"] == 1
    assert_quiet(capfd, caplog)


def test_200_concurrent_calls_on_two_servers_are_each_answered_and_counted_apart():
    async def main(a, b):
        async with session(a.url) as on_a, session(b.url) as on_b:
            pages = asyncio.gather(*(on_a.call_tool("fetch_page", {"url": str(n)})
                                     for n in range(200)))
            hits = asyncio.gather(*(on_b.call_tool("search", {"query": f"q{n}", "n": 1})
                                    for n in range(50)))
            return await asyncio.gather(pages, hits)

    with mcp_tools.serve(latency=0.02) as a, mcp_tools.serve(latency=0.02) as b:
        assert a.port != b.port
        pages, hits = run(main(a, b), timeout=60)
        stats_a, stats_b = a.stats(), b.stats()
    assert [mcp_tools.text(p).split(".")[0] for p in pages] == [f"Page {n}" for n in range(200)]
    assert [h.structured_content["query"] for h in hits] == [f"q{n}" for n in range(50)]
    assert stats_a["calls"] == {**dict.fromkeys(mcp_tools.TOOLS, 0), "fetch_page": 200}
    assert stats_b["calls"] == {**dict.fromkeys(mcp_tools.TOOLS, 0), "search": 50}
    assert stats_a["peak_in_flight"] > 1 and stats_a["in_flight"] == stats_b["in_flight"] == 0


def test_sessions_left_open_and_streams_never_read_do_not_hold_the_stop(capfd, caplog):
    streams = []
    with mcp_tools.serve() as desk:
        with httpx.Client(headers={"Accept": ACCEPT}, timeout=10) as http:
            sessions = [http.post(desk.url, json=INITIALIZE).headers["mcp-session-id"]
                        for _ in range(50)]  # opened, never closed
        for sid in sessions[:5]:  # the server-to-client stream of a session, never read
            sock = socket.create_connection(("127.0.0.1", desk.port), timeout=5)
            sock.sendall(request(desk, b"GET", extra=f"mcp-session-id: {sid}\r\n".encode()
                                 + b"mcp-protocol-version: 2025-06-18\r\n"))
            streams.append(sock)
        assert all(sock.recv(12) == b"HTTP/1.1 200" for sock in streams)

        async def others():
            async with session(desk.url) as s:
                return await s.call_tool("search", {"query": "still here"})

        assert not run(others(), timeout=10).is_error
        start = time.perf_counter()
    assert_stopped_promptly(start, streams, STOP_BOUND, capfd, caplog)
