"""``serve()``: a local HTTP tool server (weather, search, pages) with tunable latency and failures.

Agents call tools over the network; this gives the notebooks real HTTP tools without the
internet. It runs its own asyncio loop in a background thread (stdlib only), so it works
from scripts and notebook cells alike, and a thousand concurrent requests just sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http
import json
import math
import os
import random
import re
import socket
import threading
import time
import warnings
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from .validate import check_int, check_number

__all__ = ["serve", "ToolServer", "ENDPOINTS"]

#: The endpoints, in the order ``stats()["by_endpoint"]`` lists them.
ENDPOINTS = ("weather", "search", "page", "slow", "health", "stats")

MAX_LATENCY = 60  # seconds, for latency and jitter
MAX_RATE = 10_000  # requests per second
MAX_SLOW = 30  # seconds, for /slow?seconds=
MAX_HEAD = 16 * 1024  # request line and headers, bytes
MAX_BODY = 1024 * 1024  # bytes
MAX_HEADER_LINES = 100
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may wait for its next request
START_TIMEOUT = 5.0  # seconds ``serve()`` waits for the server to come up
STOP_TIMEOUT = 5.0  # seconds it waits for the server thread to end
_LINGER = 1.0  # seconds to drain a rejected client's input before closing (avoids a reset)

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods, header names
_TARGET = re.compile(r"/[!-~]*")  # origin-form: printable ASCII, no spaces
_DIGITS = re.compile(r"[0-9]+")
_COMMON = frozenset({"latency", "jitter", "failure_rate"})  # per-request overrides
_UNSET: Any = object()
_WORDS = (
    "agent tool call loop task queue await result cache retry timeout worker plan "
    "search answer page token stream event future lock budget trace"
).split()


class _HttpError(Exception):
    """A request the server answers with a 4xx; ``close`` if the connection can't be reused."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.close = status, close


# --- argument checks: the Python API and the query string share the same bounds --------


def _check_settings(latency: Any, jitter: Any, failure_rate: Any, rate_limit: Any) -> dict:
    """Validate the tunable settings (``_UNSET`` skips one); return the given ones, checked."""
    out = {}
    if latency is not _UNSET:
        out["latency"] = check_number("latency", latency, 0, MAX_LATENCY)
    if jitter is not _UNSET:
        out["jitter"] = check_number("jitter", jitter, 0, MAX_LATENCY)
    if failure_rate is not _UNSET:
        out["failure_rate"] = check_number("failure_rate", failure_rate, 0, 1)
    if rate_limit is not _UNSET and rate_limit is not None:
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, int | float):
            raise TypeError(
                f"rate_limit must be None or a number greater than 0 and at most "
                f"{MAX_RATE:g}, got {rate_limit!r}"
            )
        rate_limit = check_number("rate_limit", rate_limit, 0, MAX_RATE, lo_open=True)
    if rate_limit is not _UNSET:
        out["rate_limit"] = rate_limit
    return out


def _query_number(params: dict[str, str], name: str, lo: float, hi: float, default: float):
    """The query parameter ``name`` as a float in ``[lo, hi]``, or an HTTP 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return check_number(name, float(raw), lo, hi)
    except ValueError:
        raise _HttpError(
            400, f"{name} must be a number at least {lo:g} and at most {hi:g}, got {raw!r}"
        ) from None


# --- the tools: deterministic answers derived from the request -------------------------


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _weather(city: str) -> dict:
    if not city.strip() or len(city) > 100:
        raise _HttpError(400, f"city must be 1 to 100 characters, got {city!r}")
    temperature = round(-10 + _digest(city.strip().casefold()) % 451 / 10, 1)  # -10.0 .. 35.0
    return {"city": city, "temperature": temperature, "unit": "C"}


def _search(params: dict[str, str]) -> dict:
    query = params.get("q", "")
    if not query.strip() or len(query) > 200:
        raise _HttpError(400, f"q must be 1 to 200 characters, got {query!r}")
    n = _query_number(params, "n", 1, 10, 3)
    if n != int(n):
        raise _HttpError(400, f"n must be an integer between 1 and 10, got {params['n']!r}")
    slug = quote(query.strip().casefold().replace(" ", "-"), safe="-")
    results = [
        {"title": f"{query.strip()}: result {i}", "url": f"https://example.org/{slug}/{i}"}
        for i in range(1, int(n) + 1)
    ]
    return {"query": query, "results": results}


def _page(raw: str) -> dict:
    if not _DIGITS.fullmatch(raw) or len(raw) > 7 or int(raw) > 1_000_000:
        raise _HttpError(400, f"page must be an integer between 0 and 1000000, got {raw!r}")
    n = int(raw)
    words = random.Random(n).choices(_WORDS, k=40)
    return {"page": n, "text": f"Page {n}. " + " ".join(words) + "."}


# --- the server ------------------------------------------------------------------------


def serve(
    *,
    latency: float = 0.05,
    jitter: float = 0.0,
    failure_rate: float = 0.0,
    rate_limit: float | None = None,
    seed: int = 0,
    port: int = 0,
    max_connections: int = 4096,
) -> ToolServer:
    """A local HTTP tool server; use it as a context manager::

        with asynclab.toolserver.serve(latency=0.1) as server:
            requests.get(f"{server.url}/weather/Paris").json()["temperature"]

    Each tool request waits ``latency`` +/- ``jitter`` seconds (uniform, clipped at 0) and
    fails with a 503 with probability ``failure_rate``, drawn from ``random.Random(seed)``.
    ``rate_limit`` (requests per second, token bucket of one second's burst) answers 429
    with ``Retry-After`` when exceeded; ``None`` means no limit. ``port`` 0 picks a free
    port on 127.0.0.1. Endpoints: ``/weather/{city}``, ``/search?q=``, ``/page/{n}``,
    ``/slow?seconds=``, ``/health``, ``/stats``; the first three accept ``?latency=``,
    ``?jitter=`` and ``?failure_rate=`` overrides.
    """
    return ToolServer(
        latency=latency, jitter=jitter, failure_rate=failure_rate, rate_limit=rate_limit,
        seed=seed, port=port, max_connections=max_connections,
    )


class ToolServer:
    """The server made by ``serve()``. Entering starts its thread; leaving stops everything."""

    def __init__(
        self, *, latency=0.05, jitter=0.0, failure_rate=0.0, rate_limit=None, seed=0,
        port=0, max_connections=4096,
    ) -> None:
        self._settings = _check_settings(latency, jitter, failure_rate, rate_limit)
        self._seed = check_int("seed", seed, 0, 2**63 - 1)
        self._port = check_int("port", port, 0, 65535)
        self._max_connections = check_int("max_connections", max_connections, 1, 65536)
        self._lock = threading.Lock()  # guards settings, random draws, bucket and counters
        self._rng = random.Random(seed)
        self._in_flight = self._connections = 0
        self._tokens, self._refilled = 0.0, 0.0
        self._reset_bucket()
        self._reset_counters()
        self._state = "new"  # -> running -> stopped
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main_task: asyncio.Task | None = None
        self._ready = threading.Event()
        self._stop_requested = threading.Event()
        self._startup_error: BaseException | None = None
        self._handlers: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = False

    # --- the Python side: start, stop, configure, read the counters -------------------

    @property
    def port(self) -> int:
        """The port it listens on, once entered."""
        if self._sock is None:
            raise RuntimeError("the tool server has no address yet: use it in a with-block")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, once entered."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ToolServer:
        if self._state != "new":
            raise RuntimeError("a ToolServer runs only once: call serve() again for a new one")
        self._state = "running"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if os.name == "posix":  # rebind a fixed port at once after a restart
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self._port))
            sock.listen(self._max_connections)
            sock.setblocking(False)
            self._port = sock.getsockname()[1]
            self._sock = sock
            self._thread = threading.Thread(
                target=self._thread_main, name="asynclab.toolserver", daemon=True
            )
            self._thread.start()
            if not self._ready.wait(START_TIMEOUT):
                raise RuntimeError(f"the tool server did not start within {START_TIMEOUT:g} s")
            if self._startup_error is not None:
                raise RuntimeError("the tool server failed to start") from self._startup_error
        except BaseException:  # including KeyboardInterrupt: leave nothing behind
            self._stop()
            sock.close()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop()

    def configure(
        self, *, latency=_UNSET, jitter=_UNSET, failure_rate=_UNSET, rate_limit=_UNSET,
        seed=_UNSET,
    ) -> None:
        """Change settings while running (thread-safe); omitted ones stay as they are.

        A new ``seed`` restarts the random draws; a new ``rate_limit`` refills the bucket.
        """
        changes = _check_settings(latency, jitter, failure_rate, rate_limit)
        if seed is not _UNSET:
            check_int("seed", seed, 0, 2**63 - 1)
        with self._lock:
            self._settings = {**self._settings, **changes}
            if seed is not _UNSET:
                self._seed, self._rng = seed, random.Random(seed)
            if "rate_limit" in changes:
                self._reset_bucket()

    @property
    def settings(self) -> dict:
        """The current latency, jitter, failure_rate, rate_limit and seed."""
        with self._lock:
            return {**self._settings, "seed": self._seed}

    def stats(self) -> dict:
        """Counters since start (or ``reset_stats``), the same as ``GET /stats``.

        ``requests`` counts every request parsed, ``by_endpoint`` the known endpoints,
        ``in_flight`` those being served now and ``peak_in_flight`` the most at once;
        ``failures_injected`` are the 503s drawn by ``failure_rate``, ``rate_limited``
        the 429s, ``client_errors`` the other 4xx; ``connections`` are open now.
        """
        with self._lock:
            return {
                "requests": self._requests,
                "by_endpoint": dict(self._by_endpoint),
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
                "failures_injected": self._failures,
                "rate_limited": self._rate_limited,
                "client_errors": self._client_errors,
                "connections": self._connections,
            }

    def reset_stats(self) -> None:
        """Zero the counters (``in_flight`` and ``connections`` stay true to now)."""
        with self._lock:
            self._reset_counters()

    def __repr__(self) -> str:
        where = f" {self.url}" if self._sock is not None else ""
        options = " ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"<ToolServer{where} {self._state} {options}>"

    def _reset_counters(self) -> None:
        self._requests = self._failures = self._rate_limited = self._client_errors = 0
        self._by_endpoint = dict.fromkeys(ENDPOINTS, 0)
        self._peak_in_flight = self._in_flight

    def _reset_bucket(self) -> None:
        rate = self._settings["rate_limit"]
        self._tokens = max(1.0, rate or 0.0)  # start full: one second's burst
        self._refilled = time.monotonic()

    def _stop(self) -> None:
        """Ask the loop to shut down, wait for the thread; idempotent, callable from any state."""
        self._state = "stopped"
        self._stop_requested.set()  # seen by the thread if its loop is not known yet
        loop, task = self._loop, self._main_task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)
        thread = self._thread
        if thread is None:
            return
        try:
            thread.join(STOP_TIMEOUT)
        except KeyboardInterrupt:  # the stop is already on its way: let it finish
            thread.join(STOP_TIMEOUT)
            raise
        if thread.is_alive():
            warnings.warn("the tool server thread did not stop in time", RuntimeWarning, 2)

    # --- the server thread --------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass  # stopped before it started
        except BaseException as exc:
            self._startup_error = exc
        finally:
            self._ready.set()  # wake ``__enter__`` if it is still waiting

    async def _main(self) -> None:
        self._loop, self._main_task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stop_requested.is_set():
            return
        server = None
        try:
            server = await asyncio.start_server(
                self._serve_connection, sock=self._sock, limit=MAX_HEAD,
                backlog=self._max_connections,
            )
            self._ready.set()
            await asyncio.Future()  # serve until ``_stop`` cancels this task
        except asyncio.CancelledError:
            pass
        finally:
            await self._shutdown(server)

    async def _shutdown(self, server: asyncio.Server | None) -> None:
        """Stop listening, then end every connection and its handler."""
        self._closing = True
        if server is not None:
            server.close()
        for _ in range(3):  # let just-accepted connections reach their handler
            await asyncio.sleep(0)
        for task in self._handlers:
            task.cancel()
        for writer in self._writers:
            writer.transport.abort()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=STOP_TIMEOUT)
        await asyncio.sleep(0)  # let aborted transports close their sockets
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT)

    async def _serve_connection(self, reader, writer) -> None:
        """One client connection: answer requests until it closes or asks to."""
        if self._closing:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        self._handlers.add(task)
        self._writers.add(writer)
        with self._lock:
            counted = self._connections < self._max_connections
            self._connections += counted
        try:
            if not counted:
                body = {"error": "too many connections", "status": 503}
                await self._respond(writer, 503, body, False)
                return
            while await self._serve_request(reader, writer):
                pass
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away, or stayed idle too long
        except asyncio.CancelledError:
            pass  # shutdown; end quietly, as Python 3.11's streams log a cancelled handler
        finally:
            with self._lock:
                self._connections -= counted
            self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _serve_request(self, reader, writer) -> bool:
        """Read and answer one request; return whether the connection stays open."""
        try:
            async with asyncio.timeout(IDLE_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # closed between requests, or mid-request
        except asyncio.LimitOverrunError:
            await self._reject(reader, writer, _HttpError(431, "request head over 16 KiB"))
            return False
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            try:
                method, target, keep_alive = await self._read_request(reader, head)
                if method != "GET":
                    raise _HttpError(405, f"method {method} is not allowed: only GET")
                status, payload, headers = await self._route(target)
            except (OSError, asyncio.IncompleteReadError):
                raise  # the client went away mid-request
            except _HttpError as error:
                with self._lock:
                    self._client_errors += 1
                if error.close:
                    await self._reject(reader, writer, error)
                    return False
                status, payload = error.status, {"error": str(error), "status": error.status}
                headers = {"Allow": "GET"} if status == 405 else {}
            except Exception as error:  # a bug here must not take the server down
                status, payload, headers = 500, {"error": repr(error), "status": 500}, {}
            await self._respond(writer, status, payload, keep_alive, headers)
            return keep_alive
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _read_request(self, reader, head: bytes) -> tuple[str, str, bool]:
        """Parse the head and read (and discard) any body: method, target, keep-alive."""
        lines = head.decode("latin-1").lstrip("\r\n").split("\r\n")[:-2]
        if not lines or len(lines) > MAX_HEADER_LINES:
            raise _HttpError(400 if not lines else 431, "malformed request head", close=True)
        parts = lines[0].split(" ")
        if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _TARGET.fullmatch(parts[1]):
            raise _HttpError(400, f"malformed request line {lines[0][:100]!r}", close=True)
        method, target, version = parts
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            raise _HttpError(400, f"unsupported HTTP version {version[:20]!r}", close=True)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                raise _HttpError(400, f"malformed header line {line[:100]!r}", close=True)
            key, value = name.lower(), value.strip(" \t")
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        if "transfer-encoding" in headers:
            message = "Transfer-Encoding is not supported: send a Content-Length"
            raise _HttpError(411, message, close=True)
        length = 0
        if "content-length" in headers:
            values = {v.strip() for v in headers["content-length"].split(",")}
            raw = values.pop() if len(values) == 1 else ""
            if not _DIGITS.fullmatch(raw):
                raise _HttpError(400, "invalid Content-Length", close=True)
            raw = raw.lstrip("0") or "0"
            if len(raw) > 8 or int(raw) > MAX_BODY:
                raise _HttpError(413, "request body over 1 MiB", close=True)
            length = int(raw)
        elif method in ("POST", "PUT", "PATCH"):
            raise _HttpError(411, f"{method} needs a Content-Length", close=True)
        if length:
            async with asyncio.timeout(IDLE_TIMEOUT):
                await reader.readexactly(length)
        connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        return method, target, keep_alive

    async def _route(self, target: str) -> tuple[int, dict, dict]:
        """Answer a GET: status, JSON payload, extra headers."""
        path, _, query = target.partition("?")
        try:
            segments = [unquote(s, errors="strict") for s in path[1:].split("/")]
            pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=20, errors="strict")
        except ValueError as error:
            raise _HttpError(400, f"malformed path or query: {error}") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise _HttpError(400, "a query parameter is given more than once")
        match segments:
            case ["weather", _]:
                endpoint, allowed = "weather", _COMMON
            case ["search"]:
                endpoint, allowed = "search", _COMMON | {"q", "n"}
            case ["page", _]:
                endpoint, allowed = "page", _COMMON
            case ["slow"]:
                endpoint, allowed = "slow", {"seconds"}
            case ["health"] | ["stats"]:
                endpoint, allowed = segments[0], set()
            case _:
                raise _HttpError(404, f"no such endpoint {path[:100]!r}")
        with self._lock:
            self._by_endpoint[endpoint] += 1
        unknown = sorted(set(params) - allowed)
        if unknown:
            expected = ", ".join(sorted(allowed)) or "none"
            raise _HttpError(400, f"unknown query parameter {unknown[0]!r} (expected: {expected})")
        if endpoint == "health":
            return 200, {"ok": True}, {}
        if endpoint == "stats":
            return 200, self.stats(), {}

        with self._lock:
            settings = self._settings
        latency = _query_number(params, "latency", 0, MAX_LATENCY, settings["latency"])
        jitter = _query_number(params, "jitter", 0, MAX_LATENCY, settings["jitter"])
        failure_rate = _query_number(params, "failure_rate", 0, 1, settings["failure_rate"])
        # The tool's own arguments are checked before any waiting.
        if endpoint == "slow":
            seconds = _query_number(params, "seconds", 0, MAX_SLOW, 1.0)
            payload = {"slept": seconds}
        elif endpoint == "weather":
            payload = _weather(segments[1])
        elif endpoint == "search":
            payload = _search(params)
        else:
            payload = _page(segments[1])

        with self._lock:
            retry_after = self._take_token()
            if retry_after is not None:
                self._rate_limited += 1
            elif endpoint != "slow":
                draw_delay, draw_fail = self._rng.random(), self._rng.random()
        if retry_after is not None:
            body = {"error": "rate limited", "status": 429, "retry_after": round(retry_after, 3)}
            return 429, body, {"Retry-After": str(max(1, math.ceil(retry_after)))}
        if endpoint == "slow":
            await asyncio.sleep(seconds)  # /slow waits exactly as asked, and never fails
            return 200, payload, {}
        await asyncio.sleep(max(0.0, latency + jitter * (2 * draw_delay - 1)))
        if draw_fail < failure_rate:
            with self._lock:
                self._failures += 1
            return 503, {"error": "injected failure", "status": 503}, {}
        return 200, payload, {}

    def _take_token(self) -> float | None:
        """Token bucket (hold the lock): None if a token was taken, else seconds to wait."""
        rate = self._settings["rate_limit"]
        if rate is None:
            return None
        now = time.monotonic()
        capacity = max(1.0, rate)
        self._tokens = min(capacity, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate

    async def _respond(self, writer, status: int, payload: dict, keep_alive: bool, headers=None):
        body = json.dumps(payload).encode()
        lines = [
            f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _reject(self, reader, writer, error: _HttpError) -> None:
        """Answer a request that cannot be framed, then close without resetting the client.

        Closing with unread input makes the kernel send a reset, which can destroy the
        answer before the client reads it; so shut our side and drain theirs briefly.
        """
        payload = {"error": str(error), "status": error.status}
        await self._respond(writer, error.status, payload, False)
        if writer.can_write_eof():
            writer.write_eof()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_LINGER):
                drained = 0
                while drained < 8 * MAX_BODY and (chunk := await reader.read(65536)):
                    drained += len(chunk)
