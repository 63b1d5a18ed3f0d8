import asyncio
import json
import logging
import socket
import threading
import time

import httpx
import psutil
import pytest
import requests
import uvicorn
from asynclab import toolserver
from asynclab.toolserver import serve
from waiting import wait_for

# --- helpers: a raw HTTP client, so malformed requests reach the server as written -------


def read_response(sock: socket.socket) -> tuple[int, dict, dict]:
    """Read one HTTP response from ``sock``: status, lower-cased headers, JSON body.

    It reads no byte past the response, so pipelined answers are read one at a time."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise AssertionError(f"connection closed before a full response: {head!r}")
        head += chunk
    lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length, body = int(headers["content-length"]), b""
    while len(body) < length and (chunk := sock.recv(length - len(body))):
        body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body)


def raw_request(port: int, data: bytes) -> tuple[int, dict, dict]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return read_response(sock)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


def assert_refuses(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def timed_get(url: str, **kwargs) -> tuple[float, requests.Response]:
    start = time.perf_counter()
    response = requests.get(url, timeout=30, **kwargs)
    return time.perf_counter() - start, response


# --- endpoints -----------------------------------------------------------------------------

ENDPOINT_CASES = [
    ("/weather/Paris", lambda j: j["city"] == "Paris" and j["unit"] == "C"
     and -10 <= j["temperature"] <= 35),
    ("/weather/New%20York", lambda j: j["city"] == "New York"),
    ("/search?q=async+agents", lambda j: j["query"] == "async agents" and len(j["results"]) == 3
     and all(set(r) == {"title", "url"} for r in j["results"])),
    ("/search?q=tools&n=5", lambda j: len(j["results"]) == 5),
    ("/page/42", lambda j: j["page"] == 42 and j["text"].startswith("Page 42.")),
    ("/slow?seconds=0.05", lambda j: j == {"slept": 0.05}),
    ("/health", lambda j: j == {"ok": True}),
    ("/stats", lambda j: j["requests"] >= 1 and j["by_endpoint"]["stats"] == 1),
]  # fmt: skip


@pytest.fixture
def server():
    with serve(latency=0.01) as srv:
        yield srv


@pytest.mark.parametrize("path, ok", ENDPOINT_CASES, ids=[p for p, _ in ENDPOINT_CASES])
def test_each_endpoint_answers_json_via_requests(server, path, ok):
    response = requests.get(server.url + path, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert ok(response.json()), response.json()


def test_each_endpoint_answers_json_via_httpx_async_client(server):
    async def main():
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            return await asyncio.gather(*(client.get(path) for path, _ in ENDPOINT_CASES))

    for (path, ok), response in zip(ENDPOINT_CASES, asyncio.run(main()), strict=True):
        assert response.status_code == 200, path
        assert ok(response.json()), (path, response.json())


def test_answers_are_deterministic_across_servers():
    paths = ["/weather/Paris", "/weather/paris", "/weather/Oslo", "/search?q=x", "/page/7"]
    answers = []
    for seed in (0, 1):
        with serve(latency=0, seed=seed) as srv:
            answers.append([requests.get(srv.url + p, timeout=10).json() for p in paths])
    assert answers[0] == answers[1]
    paris, paris_lower, oslo = (a["temperature"] for a in answers[0][:3])
    assert paris == paris_lower != oslo  # derived from the name, not from chance


def test_keep_alive_reuses_one_connection(server):
    with requests.Session() as session:
        for i in range(5):
            assert session.get(f"{server.url}/page/{i}", timeout=10).json()["page"] == i
        assert server.stats()["connections"] == 1


def test_stats_count_and_reset(server):
    for path in ["/weather/A", "/weather/B", "/page/1", "/nowhere", "/health"]:
        requests.get(server.url + path, timeout=10)
    # A client has its answer a moment before the server's handler finishes its accounting.
    wait_for(lambda: server.stats()["in_flight"] == 0, timeout=2)
    stats = server.stats()
    assert stats["requests"] == 5
    assert stats["by_endpoint"] == {
        "weather": 2, "search": 0, "page": 1, "slow": 0, "health": 1, "stats": 0
    }  # fmt: skip
    assert stats["client_errors"] == 1 and stats["in_flight"] == 0
    assert stats["peak_in_flight"] == 1
    over_http = requests.get(server.url + "/stats", timeout=10).json()
    assert over_http["requests"] == 6 and over_http["in_flight"] == 1  # itself
    server.reset_stats()
    assert server.stats()["requests"] == 0
    assert server.stats()["by_endpoint"]["weather"] == 0


# --- latency, concurrency, failures, reproducibility -----------------------------------


def test_latency_is_applied_and_health_has_none():
    with serve(latency=0.1) as srv:
        took, response = timed_get(srv.url + "/weather/Rome")
        assert response.ok and took >= 0.1 * 0.9
        took, _ = timed_get(srv.url + "/page/1?latency=0.3")  # per-request override
        assert took >= 0.3 * 0.9
        srv.configure(latency=1.0)
        took, _ = timed_get(srv.url + "/health")
        assert took < 0.5
        took, _ = timed_get(srv.url + "/slow?seconds=0.1")  # /slow ignores latency
        assert 0.1 * 0.9 <= took < 0.9


def test_configure_changes_latency_while_running():
    with serve(latency=0) as srv:
        srv.configure(latency=0.3)
        assert srv.settings["latency"] == 0.3
        took, _ = timed_get(srv.url + "/weather/Rome")
        assert took >= 0.3 * 0.9


def test_jitter_spreads_the_latency():
    with serve(latency=0.2, jitter=0.2, seed=0) as srv:
        took = [timed_get(f"{srv.url}/page/{i}")[0] for i in range(5)]
    # Seed 0 draws delays from 0.17 s to 0.34 s; without jitter all would be 0.2 s.
    assert max(took) - min(took) > 0.08, took


def test_twenty_concurrent_requests_overlap():
    async def main(url):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            start = time.perf_counter()
            responses = await asyncio.gather(*(client.get(f"/page/{i}") for i in range(20)))
            return time.perf_counter() - start, responses

    with serve(latency=0.2) as srv:
        took, responses = asyncio.run(main(srv.url))
        assert [r.json()["page"] for r in responses] == list(range(20))
        assert took < 20 * 0.2 / 2  # sequential would take 4 s
        assert srv.stats()["peak_in_flight"] >= 10


def test_a_thread_pool_fetches_a_hundred_pages_concurrently():
    from concurrent.futures import ThreadPoolExecutor

    def fetch(n):
        return requests.get(f"{srv.url}/page/{n}", timeout=30).json()["page"]

    with serve(latency=0.1) as srv, ThreadPoolExecutor(max_workers=20) as pool:
        start = time.perf_counter()
        pages = list(pool.map(fetch, range(100)))
        took = time.perf_counter() - start
    assert pages == list(range(100))
    assert took < 100 * 0.1 / 3  # sequential would take 10 s


@pytest.mark.parametrize("rate, expected", [(1.0, 503), (0.0, 200)])
def test_failure_rate_extremes(rate, expected):
    with serve(latency=0, failure_rate=rate) as srv:
        responses = [requests.get(f"{srv.url}/page/{i}", timeout=10) for i in range(20)]
        assert {r.status_code for r in responses} == {expected}
        if expected == 503:
            assert responses[0].json()["error"] == "injected failure"
        assert srv.stats()["failures_injected"] == (20 if rate else 0)


def test_per_request_failure_rate_override(server):
    assert requests.get(f"{server.url}/page/1?failure_rate=1", timeout=10).status_code == 503


def test_seeded_runs_are_reproducible():
    def pattern(srv):
        return [requests.get(f"{srv.url}/page/{i}", timeout=10).status_code for i in range(40)]

    runs = {}
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        with serve(latency=0, failure_rate=0.5, seed=seed) as srv:
            runs[name] = pattern(srv)
            if name == "a":
                srv.configure(seed=0)  # reseeding replays the same draws
                runs["replay"] = pattern(srv)
    assert runs["a"] == runs["b"] == runs["replay"]
    assert runs["a"] != runs["c"]
    assert 5 < runs["a"].count(503) < 35


# --- rate limiting -----------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after():
    with serve(latency=0, rate_limit=2) as srv:
        statuses = [requests.get(f"{srv.url}/page/{i}", timeout=10) for i in range(4)]
        assert [r.status_code for r in statuses[:2]] == [200, 200]  # the burst
        limited = next(r for r in statuses if r.status_code == 429)
        assert limited.headers["Retry-After"] == "1"
        assert 0 < limited.json()["retry_after"] <= 0.5
        assert srv.stats()["rate_limited"] >= 1
        time.sleep(limited.json()["retry_after"] + 0.05)
        assert requests.get(f"{srv.url}/page/9", timeout=10).status_code == 200
        assert requests.get(f"{srv.url}/health", timeout=10).status_code == 200  # exempt
        srv.configure(rate_limit=None)
        assert all(
            requests.get(f"{srv.url}/page/{i}", timeout=10).status_code == 200 for i in range(10)
        )


# --- robustness: malformed requests over a raw socket --------------------------------------

MALFORMED = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /health HTTP/9.9\r\n\r\n", 400),
    (b"GET health HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 requires Host (RFC 9112, 3.2)
    (b"BREW /health HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"DELETE /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (get("/nowhere"), 404),
    (get("/health/"), 404),
    (get("/page/abc"), 400),
    (get("/page/-1"), 400),
    (get("/weather/%ff"), 400),
    (get("/search"), 400),
    (get("/search?q=x&n=11"), 400),
    (get("/weather/Paris?latency=-1"), 400),
    (get("/weather/Paris?latency=nan"), 400),
    (get("/weather/Paris?failure_rate=2"), 400),
    (get("/weather/Paris?latncy=1"), 400),
    (get("/weather/Paris?latency=1&latency=2"), 400),
    (get("/slow?seconds=31"), 400),
    (b"POST /health HTTP/1.1\r\nHost: x\r\n\r\n", 411),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    (b"POST /health HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /health HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413),
    # h11 takes a Content-Length of more than 20 digits for a malformed one: 400, not 413.
    (b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nbad header\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20_000, 431),  # a head still growing
    (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 200 + b"\r\n", 431),
]


@pytest.mark.parametrize("data, status", MALFORMED, ids=[repr(d[:40]) for d, _ in MALFORMED])
def test_malformed_requests_get_4xx_and_the_server_survives(server, data, status):
    got, _, body = raw_request(server.port, data)
    assert got == status, body
    assert body["status"] == status and body["error"]
    assert raw_request(server.port, get("/health"))[2] == {"ok": True}


def test_an_oversized_body_is_refused_while_it_is_being_sent(server):
    head = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n"
    status, headers, _ = raw_request(server.port, head + b"x" * 3_000_000)
    assert status == 413 and headers["connection"] == "close"
    assert requests.get(server.url + "/health", timeout=10).ok


def test_error_answers_keep_the_connection_when_framing_is_intact(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(get("/nowhere"))
        assert read_response(sock)[0] == 404
        sock.sendall(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        status, headers, _ = read_response(sock)
        assert status == 405 and headers["allow"] == "GET"
        sock.sendall(get("/health") + get("/page/2"))  # pipelined
        assert read_response(sock)[2] == {"ok": True}
        assert read_response(sock)[2]["page"] == 2


def test_clients_that_vanish_mid_request_are_handled_quietly(server, caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    partial = [
        b"GET /hea",
        b"GET /health HTTP/1.1\r\nHost:",
        b"POST /health HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
        get("/slow?seconds=0.3"),
        get("/page/1?latency=0.3"),
    ]
    for data in partial:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(data)
        sock.close()
    time.sleep(0.6)  # let the slow ones try to answer their departed clients
    assert requests.get(server.url + "/health", timeout=10).json() == {"ok": True}
    assert wait_for(lambda: server.stats()["connections"] == 0), server.stats()
    assert server.stats()["in_flight"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


def test_connections_over_the_cap_get_503():
    with serve(latency=0, max_connections=1) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as first:
            first.sendall(get("/health"))
            assert read_response(first)[0] == 200
            status, _, body = raw_request(srv.port, get("/health"))
            assert status == 503 and body["error"] == "too many connections"
        assert wait_for(lambda: srv.stats()["connections"] == 0)  # the slot frees
        assert raw_request(srv.port, get("/health"))[0] == 200


async def fetch_raw(port: int, path: str) -> tuple[int, dict]:
    """One request on its own connection, with asyncio streams: status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        head, _, body = (await reader.read()).partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.timeout(120)
def test_a_thousand_concurrent_requests_are_all_answered():
    # Raw streams, not httpx: httpcore's pool does O(connections x queued requests) work
    # per event, which makes 1000 concurrent httpx requests take ~30 s of client CPU.
    async def main(port):
        return await asyncio.gather(*(fetch_raw(port, f"/page/{i}") for i in range(1000)))

    with serve(latency=0.5) as srv:
        start = time.perf_counter()
        answers = asyncio.run(main(srv.port))
        took = time.perf_counter() - start
        assert [(status, body["page"]) for status, body in answers] == [
            (200, i) for i in range(1000)
        ]
        stats = srv.stats()
        assert stats["requests"] == 1000 and stats["in_flight"] == 0
        assert stats["peak_in_flight"] >= 500  # served side by side, not one after another
        assert took < 1000 * 0.5 / 20  # sequential would take 500 s
        print(f"1000 concurrent requests at latency 0.5 s took {took:.2f} s")


# --- lifecycle: nothing survives ---------------------------------------------------------


def test_stopping_with_requests_in_flight_is_prompt_and_leaves_nothing(caplog):
    caplog.set_level(logging.DEBUG, logger="asyncio")
    before = set(threading.enumerate())
    clients = []
    with serve(latency=0) as srv:
        port = srv.port
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(get("/slow?seconds=20"))
            clients.append(sock)
        assert wait_for(lambda: srv.stats()["in_flight"] == 10), srv.stats()
        start = time.perf_counter()
    took = time.perf_counter() - start
    assert took < 3.0
    for sock in clients:
        with sock:
            try:
                assert sock.recv(1024) == b""  # closed without an answer
            except ConnectionResetError:
                pass
    assert_refuses(port)
    assert set(threading.enumerate()) == before
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


@pytest.mark.parametrize("error", [ZeroDivisionError, KeyboardInterrupt])
def test_an_exception_in_the_block_still_stops_everything(error):
    before = set(threading.enumerate())
    with pytest.raises(error):
        with serve() as srv:
            port = srv.port
            assert requests.get(srv.url + "/health", timeout=10).ok
            raise error
    assert_refuses(port)
    assert set(threading.enumerate()) == before


def test_it_works_when_entered_inside_a_running_loop():
    async def cell():  # a notebook cell with top-level await
        with serve(latency=0.05) as srv:
            async with httpx.AsyncClient(base_url=srv.url, timeout=10) as client:
                response = await client.get("/weather/Lima")
            return response.json(), srv.port

    answer, port = asyncio.run(cell())
    assert answer["city"] == "Lima"
    assert_refuses(port)


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def test_a_server_that_does_not_come_up_in_time_is_cleaned_up(monkeypatch):
    async def never(*args, **kwargs):
        await asyncio.sleep(30)

    monkeypatch.setattr(toolserver, "START_TIMEOUT", 0.2)
    monkeypatch.setattr(uvicorn.Server, "startup", never)
    before = listening_ports()
    srv = serve()
    with pytest.raises(RuntimeError, match="did not start within 0.2 s"):
        srv.__enter__()
    assert listening_ports() == before  # its socket was bound, then closed
    with pytest.raises(RuntimeError, match="with-block"):
        _ = srv.port  # it never had an address to give


def test_a_port_in_use_is_reported_and_nothing_starts(server):
    before = set(threading.enumerate())
    with pytest.raises(OSError):
        with serve(port=server.port):
            pass
    assert set(threading.enumerate()) == before


def test_a_server_runs_once_and_has_no_url_before_it_starts():
    srv = serve()
    with pytest.raises(RuntimeError, match="with-block"):
        _ = srv.url
    with srv:
        assert srv.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError, match="only once"):
            srv.__enter__()
    with pytest.raises(RuntimeError, match="only once"):
        srv.__enter__()


# --- argument checks ---------------------------------------------------------------------

BAD_ARGUMENTS = [
    ({"latency": -1}, ValueError, "latency must be at least 0 and at most 60, got -1"),
    ({"latency": 61}, ValueError, "latency must be at least 0 and at most 60"),
    ({"latency": "0.1"}, TypeError, "latency must be a number"),
    ({"latency": True}, TypeError, "latency must be a number"),
    ({"jitter": -0.5}, ValueError, "jitter must be at least 0 and at most 60"),
    ({"failure_rate": 1.5}, ValueError, "failure_rate must be at least 0 and at most 1"),
    ({"failure_rate": float("nan")}, ValueError, "failure_rate must be"),
    ({"rate_limit": 0}, ValueError, "rate_limit must be greater than 0 and at most 10000"),
    ({"rate_limit": "fast"}, TypeError, "rate_limit must be None or a number"),
    ({"seed": -1}, ValueError, "seed must be between 0 and"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"port": 70000}, ValueError, "port must be between 0 and 65535"),
    ({"max_connections": 0}, ValueError, "max_connections must be between 1 and 65536"),
]


@pytest.mark.parametrize("kwargs, error, message", BAD_ARGUMENTS)
def test_bad_arguments_are_refused_naming_the_parameter(kwargs, error, message):
    before = threading.active_count()
    with pytest.raises(error, match=message):
        serve(**kwargs)
    assert threading.active_count() == before  # refused before anything started


CONFIGURABLE = [(k, e, m) for k, e, m in BAD_ARGUMENTS if set(k) <= {
    "latency", "jitter", "failure_rate", "rate_limit", "seed"}]  # fmt: skip


@pytest.mark.parametrize("kwargs, error, message", CONFIGURABLE)
def test_configure_refuses_bad_arguments_and_changes_nothing(server, kwargs, error, message):
    before = server.settings
    with pytest.raises(error, match=message):
        server.configure(**{"latency": 0.5, **kwargs})
    assert server.settings == before


def test_serve_takes_keyword_arguments_only():
    with pytest.raises(TypeError):
        serve(0.1)
