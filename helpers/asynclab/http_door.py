"""The strict front door of the lab's HTTP servers: what a request must look like before
any route sees it, a cap on open connections, and every refusal as JSON naming why, even
for a request that uvicorn's parser (h11) cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .validate import check_number

__all__ = ["HttpError", "ConnectionGate", "StrictH11Protocol", "check_request", "query_number", "send_json",
           "MAX_HEAD", "MAX_BODY", "MAX_HEADER_LINES"]

MAX_HEAD = 16 * 1024  # request line and headers, bytes
MAX_BODY = 1024 * 1024  # bytes
MAX_HEADER_LINES = 100
# Seconds to drain a refused client's input before closing: closing with unread input
# makes the kernel send a reset, which can destroy the answer.
LINGER = 1.0


class HttpError(Exception):
    """A request the server answers with a 4xx; ``close`` if the connection can't be reused."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status, self.close = status, close


def check_request(scope: dict) -> HttpError | None:
    """The door: what h11 lets through but this server refuses, before any routing."""
    method, headers, version = scope["method"], dict(scope["headers"]), scope["http_version"]
    if version not in ("1.0", "1.1"):
        return HttpError(400, f"unsupported HTTP version {version[:20]!r}", close=True)
    if not scope["raw_path"].startswith(b"/"):
        return HttpError(400, "malformed request target: it must start with /", close=True)
    if len(scope["headers"]) > MAX_HEADER_LINES:
        return HttpError(431, f"more than {MAX_HEADER_LINES} header lines", close=True)
    if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEAD:  # h11 checks
        return HttpError(431, "request head over 16 KiB", close=True)  # only a partial head
    if b"transfer-encoding" in headers:
        message = "Transfer-Encoding is not supported: send a Content-Length"
        return HttpError(411, message, close=True)
    length = headers.get(b"content-length")  # h11 has checked it is one number
    if length is None and method in ("POST", "PUT", "PATCH"):
        return HttpError(411, f"{method} needs a Content-Length", close=True)
    if length is not None and int(length) > MAX_BODY:
        return HttpError(413, "request body over 1 MiB", close=True)
    if method != "GET":
        return HttpError(405, f"method {method[:20]} is not allowed: only GET")
    try:
        unquote(scope["raw_path"].decode("ascii"), errors="strict")
        query = scope["query_string"].decode("ascii")
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=20, errors="strict")
    except ValueError as error:
        return HttpError(400, f"malformed path or query: {error}")
    if len(dict(pairs)) != len(pairs):
        return HttpError(400, "a query parameter is given more than once")
    return None


def query_number(params: dict[str, str], name: str, lo: float, hi: float, default: float):
    """The query parameter ``name`` as a float in ``[lo, hi]``, or an HTTP 400 naming it."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return check_number(name, float(raw), lo, hi)
    except ValueError:
        raise HttpError(
            400, f"{name} must be a number at least {lo:g} and at most {hi:g}, got {raw!r}"
        ) from None


async def send_json(send, status: int, payload: dict, headers=(), *, drain=None) -> None:
    """Answer with JSON. With ``drain`` (the ASGI receive), answer first, then read and drop
    what the client is still sending (for up to ``LINGER`` s), then close: closing with
    unread input makes the kernel send a reset, which can destroy the answer."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), *headers]
    if drain is not None:
        headers.append((b"connection", b"close"))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": drain is not None})
    if drain is None:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER):
            drained = 0
            while drained < 8 * MAX_BODY:
                message = await drain()
                drained += len(message.get("body", b""))
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    break
    await send({"type": "http.response.body", "body": b""})


class ConnectionGate:
    """Open connections, capped at ``limit``, and the requests refused before parsing; all
    thread-safe (uvicorn's thread counts, the caller's thread reads)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._open = self._unparsable = 0

    def admit(self) -> bool:
        """A connection opens: True if it is under the cap (and now counted)."""
        with self._lock:
            admitted = self._open < self.limit
            self._open += admitted
            return admitted

    def release(self) -> None:
        with self._lock:
            self._open -= 1

    def refuse_unparsable(self) -> None:
        with self._lock:
            self._unparsable += 1

    @property
    def open(self) -> int:
        return self._open

    def take_unparsable(self) -> int:
        """The requests refused before parsing since the last call (and reset to 0)."""
        with self._lock:
            n, self._unparsable = self._unparsable, 0
            return n


class _Connection(h11.Connection):
    """h11's connection state, remembering why the request could not be parsed."""

    error = h11.RemoteProtocolError("invalid HTTP request")

    def next_event(self):
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.error = error
            raise


class StrictH11Protocol(H11Protocol):
    """uvicorn's h11 protocol behind a ``ConnectionGate``: a connection over the gate's
    limit is served by ``too_many`` (an ASGI app), and a request h11 cannot parse gets a
    JSON answer with h11's reason and status (400, or 431 for a head over ``MAX_HEAD``).
    Give it to uvicorn as ``http=functools.partial(StrictH11Protocol, gate=, too_many=)``."""

    def __init__(self, *args: Any, gate: ConnectionGate,
                 too_many: Callable[..., Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _Connection(h11.SERVER, MAX_HEAD)
        self.gate, self.too_many, self.counted = gate, too_many, False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.counted = self.gate.admit()
        if not self.counted:
            self.app = self.too_many

    def connection_lost(self, exc) -> None:
        super().connection_lost(exc)
        if self.counted:
            self.gate.release()
            self.counted = False

    def send_400_response(self, msg: str) -> None:
        error, status = self.conn.error, self.conn.error.error_status_hint
        self.gate.refuse_unparsable()
        body = json.dumps({"error": str(error)[:200], "status": status}).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body))),
                   ("connection", "close")]
        for event in (h11.Response(
                status_code=status, headers=headers, reason=http.HTTPStatus(status).phrase), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
