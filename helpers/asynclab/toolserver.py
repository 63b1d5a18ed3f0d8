"""``serve()``: a local HTTP tool server (weather, search, pages) with tunable latency and failures.

Agents call tools over the network; this gives the notebooks real HTTP tools without the
internet. It is a Starlette app under uvicorn in a background thread (``serving``), so it
works from scripts and notebook cells alike, and a thousand concurrent requests just sleep.
Every refusal, even of a request uvicorn's parser (h11) cannot read, is JSON naming why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import math
import random
import threading
import time
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import serving
from .http_door import (
    MAX_HEAD,
    ConnectionGate,
    HttpError,
    StrictH11Protocol,
    check_request,
    query_number,
    send_json,
)
from .validate import check_int, check_number

__all__ = ["serve", "ToolServer", "ENDPOINTS"]

#: The endpoints, in the order ``stats()["by_endpoint"]`` lists them.
ENDPOINTS = ("weather", "search", "page", "slow", "health", "stats")

MAX_LATENCY = 60  # seconds, for latency and jitter
MAX_RATE = 10_000  # requests per second
MAX_SLOW = 30  # seconds, for /slow?seconds=
START_TIMEOUT = 5.0  # seconds ``serve()`` waits for the server to come up
STOP_GRACE = 0.5  # seconds open requests get to finish when the server stops

_COMMON = frozenset({"latency", "jitter", "failure_rate"})  # per-request overrides
_ROUTES = {  # endpoint: path, query parameters it takes
    "weather": ("/weather/{city}", _COMMON),
    "search": ("/search", _COMMON | {"q", "n"}),
    "page": ("/page/{n}", _COMMON),
    "slow": ("/slow", frozenset({"seconds"})),
    "health": ("/health", frozenset()),
    "stats": ("/stats", frozenset()),
}
_UNSET: Any = object()
_WORDS = (
    "agent tool call loop task queue await result cache retry timeout worker plan "
    "search answer page token stream event future lock budget trace"
).split()


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


# --- the tools: deterministic answers derived from the request -------------------------


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _weather(city: str) -> dict:
    if not city.strip() or len(city) > 100:
        raise HttpError(400, f"city must be 1 to 100 characters, got {city!r}")
    temperature = round(-10 + _digest(city.strip().casefold()) % 451 / 10, 1)  # -10.0 .. 35.0
    return {"city": city, "temperature": temperature, "unit": "C"}


def _search(params: dict[str, str]) -> dict:
    query = params.get("q", "")
    if not query.strip() or len(query) > 200:
        raise HttpError(400, f"q must be 1 to 200 characters, got {query!r}")
    n = query_number(params, "n", 1, 10, 3)
    if n != int(n):
        raise HttpError(400, f"n must be an integer between 1 and 10, got {params['n']!r}")
    slug = quote(query.strip().casefold().replace(" ", "-"), safe="-")
    results = [
        {"title": f"{query.strip()}: result {i}", "url": f"https://example.org/{slug}/{i}"}
        for i in range(1, int(n) + 1)
    ]
    return {"query": query, "results": results}


def _page(raw: str) -> dict:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7 or int(raw) > 1_000_000:
        raise HttpError(400, f"page must be an integer between 0 and 1000000, got {raw!r}")
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
    port on 127.0.0.1; a connection beyond ``max_connections`` open ones gets a 503.
    Endpoints: ``/weather/{city}``, ``/search?q=``, ``/page/{n}``, ``/slow?seconds=``,
    ``/health``, ``/stats``; the first three accept ``?latency=``, ``?jitter=`` and
    ``?failure_rate=`` overrides.
    """
    return ToolServer(
        latency=latency, jitter=jitter, failure_rate=failure_rate, rate_limit=rate_limit,
        seed=seed, port=port, max_connections=max_connections,
    )


class ToolServer(serving.Served):
    """The server made by ``serve()``. Entering starts its thread; leaving stops everything."""

    KIND = "the tool server"

    def __init__(
        self, *, latency=0.05, jitter=0.0, failure_rate=0.0, rate_limit=None, seed=0,
        port=0, max_connections=4096,
    ) -> None:
        self._settings = _check_settings(latency, jitter, failure_rate, rate_limit)
        self._seed = check_int("seed", seed, 0, 2**63 - 1)
        super().__init__(port)
        self._gate = ConnectionGate(check_int("max_connections", max_connections, 1, 65536))
        self._lock = threading.Lock()  # guards settings, random draws, bucket and counters
        self._rng = random.Random(seed)
        self._in_flight = 0
        self._tokens, self._refilled = 0.0, 0.0
        self._reset_bucket()
        self._reset_counters()
        routes = [Route(path, self._endpoint(name, allowed))
                  for name, (path, allowed) in _ROUTES.items()]
        self._app = Starlette(routes=routes, exception_handlers={
            HttpError: self._refused, 404: self._refused})
        self._app.router.redirect_slashes = False  # /health/ is not /health

    # --- the Python side: start, stop, configure, read the counters -------------------

    def _start(self, stack: contextlib.ExitStack) -> serving.Running:
        return stack.enter_context(serving.serve(
            self._door, port=self._port, grace=STOP_GRACE, start_timeout=START_TIMEOUT,
            log_level="error", name="asynclab.toolserver",
            http=functools.partial(StrictH11Protocol, gate=self._gate),
            h11_max_incomplete_event_size=MAX_HEAD,
        ))

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

        ``requests`` counts every request received (parsed or not), ``by_endpoint`` the
        known endpoints, ``in_flight`` those being served now and ``peak_in_flight`` the
        most at once; ``failures_injected`` are the 503s drawn by ``failure_rate``,
        ``rate_limited`` the 429s, ``client_errors`` the other 4xx; ``connections`` are
        the client connections open now (up to ``max_connections``).
        """
        with self._lock:
            unparsable = self._gate.take_unparsable()  # refused before routing: count them
            self._requests += unparsable
            self._client_errors += unparsable
            return {
                "requests": self._requests,
                "by_endpoint": dict(self._by_endpoint),
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
                "failures_injected": self._failures,
                "rate_limited": self._rate_limited,
                "client_errors": self._client_errors,
                "connections": self._gate.open,
            }

    def reset_stats(self) -> None:
        """Zero the counters (``in_flight`` and ``connections`` stay true to now)."""
        with self._lock:
            self._gate.take_unparsable()
            self._reset_counters()

    def __repr__(self) -> str:
        where = f" {self.url}" if self.running else ""
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

    # --- the server thread: the door, the routes, the tools ------------------------------

    async def _door(self, scope, receive, send) -> None:
        """The ASGI app uvicorn runs: count the request, check it, hand it to the routes."""
        if scope["type"] != "http":
            return await self._app(scope, receive, send)  # lifespan
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            error = check_request(scope)
            if error is None:
                return await self._app(scope, receive, send)
            with self._lock:
                self._client_errors += 1
            extra = [(b"allow", b"GET")] if error.status == 405 else []
            payload = {"error": str(error), "status": error.status}
            await send_json(send, error.status, payload, extra, drain=receive if error.close else None)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _refused(self, request, error) -> JSONResponse:
        """Starlette's handler for a 4xx raised by a route, or for no route at all."""
        if not isinstance(error, HttpError):
            error = HttpError(404, f"no such endpoint {request.url.path[:100]!r}")
        with self._lock:
            self._client_errors += 1
        return JSONResponse({"error": str(error), "status": error.status}, error.status)

    def _endpoint(self, endpoint: str, allowed: frozenset):
        async def answer(request) -> JSONResponse:
            with self._lock:
                self._by_endpoint[endpoint] += 1
            params = dict(request.query_params)  # the door has refused repeated ones
            unknown = sorted(set(params) - allowed)
            if unknown:
                expected = ", ".join(sorted(allowed)) or "none"
                raise HttpError(
                    400, f"unknown query parameter {unknown[0]!r} (expected: {expected})")
            if endpoint == "health":
                return JSONResponse({"ok": True})
            if endpoint == "stats":
                return JSONResponse(self.stats())
            status, payload, headers = await self._use_tool(endpoint, request.path_params, params)
            return JSONResponse(payload, status, headers)

        return answer

    async def _use_tool(self, endpoint: str, path: dict, params: dict) -> tuple[int, dict, dict]:
        """Check the arguments, wait the latency, maybe fail: status, JSON payload, headers."""
        with self._lock:
            settings = self._settings
        latency = query_number(params, "latency", 0, MAX_LATENCY, settings["latency"])
        jitter = query_number(params, "jitter", 0, MAX_LATENCY, settings["jitter"])
        failure_rate = query_number(params, "failure_rate", 0, 1, settings["failure_rate"])
        # The tool's own arguments are checked before any waiting.
        if endpoint == "slow":
            seconds = query_number(params, "seconds", 0, MAX_SLOW, 1.0)
            payload = {"slept": seconds}
        elif endpoint == "weather":
            payload = _weather(path["city"])
        elif endpoint == "search":
            payload = _search(params)
        else:
            payload = _page(path["n"])

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
