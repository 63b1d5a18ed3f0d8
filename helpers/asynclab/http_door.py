"""The strict front door of the lab's HTTP servers: what a request must look like before
any route sees it, a cap on open connections, and every refusal as JSON naming why, even
for a request that uvicorn's parser (h11) cannot read. Each server words its refusals in
its own JSON (``error_body``): the tool server ``{"error", "status"}``, the model server
the provider's ``{"error": {...}}``, the MCP server a JSON-RPC error.
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

__all__ = ["HttpError", "ConnectionGate", "StrictH11Protocol", "check_head", "check_loopback",
           "check_request", "json_refusals", "query_number", "send_json", "tool_error_body",
           "LINGER", "MAX_HEAD", "MAX_BODY", "MAX_HEADER_LINES"]

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


def tool_error_body(status: int, message: str) -> dict:
    """The tool server's refusal: ``{"error": message, "status": status}``."""
    return {"error": message, "status": status}


def check_head(scope: dict) -> HttpError | None:
    """What every lab server refuses in a request's head that h11 lets through: another
    HTTP version, a target not starting with /, over ``MAX_HEADER_LINES`` header lines or
    a head over ``MAX_HEAD`` bytes (h11 bounds only a head still arriving)."""
    if scope["http_version"] not in ("1.0", "1.1"):
        version = scope["http_version"]
        return HttpError(400, f"unsupported HTTP version {version[:20]!r}", close=True)
    if not scope["raw_path"].startswith(b"/"):
        return HttpError(400, "malformed request target: it must start with /", close=True)
    if len(scope["headers"]) > MAX_HEADER_LINES:
        return HttpError(431, f"more than {MAX_HEADER_LINES} header lines", close=True)
    if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > MAX_HEAD:
        return HttpError(431, "request head over 16 KiB", close=True)
    return None


# The Host and Origin a server on 127.0.0.1 accepts (the MCP SDK's DNS-rebinding rules).
LOOPBACK_HOSTS = ("127.0.0.1:", "localhost:", "[::1]:")
LOOPBACK_ORIGINS = tuple("http://" + host for host in LOOPBACK_HOSTS)


def check_loopback(scope: dict) -> HttpError | None:
    """A 421 for a Host that is not this machine's loopback with a port, a 403 for a
    foreign Origin: what the MCP SDK refuses, refused here without its logged warning."""
    headers = dict(scope["headers"])
    host = headers.get(b"host", b"").decode("latin-1")
    origin = headers.get(b"origin", b"").decode("latin-1")
    if not host.startswith(LOOPBACK_HOSTS):
        return HttpError(421, f"Invalid Host header {host[:100]!r}: the server is on "
                              f"127.0.0.1 and takes 127.0.0.1:PORT or localhost:PORT")
    if origin and not origin.startswith(LOOPBACK_ORIGINS):
        return HttpError(403, f"Invalid Origin header {origin[:100]!r}")
    return None


def json_refusals(send, error_body: Callable[[int, str], dict]):
    """``send``, with a plain-text error answer of the app (an SDK's 400 or 413...)
    rewritten as ``error_body(status, its text)``, in JSON."""
    held: dict = {}

    async def sending(message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            kind = dict(message.get("headers", [])).get(b"content-type", b"")
            if not kind.startswith(b"application/json"):
                held.update(start=message, body=b"")
                return
        if not held or message["type"] != "http.response.body":
            return await send(message)
        held["body"] += message.get("body", b"")
        if message.get("more_body"):
            return
        status = held["start"]["status"]
        text = held["body"].decode("utf-8", "replace").strip()
        body = json.dumps(error_body(status, text[:300] or http.HTTPStatus(status).phrase))
        headers = [(k, v) for k, v in held["start"].get("headers", [])
                   if k.lower() not in (b"content-type", b"content-length")]
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body.encode())).encode())]
        held.clear()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})

    return sending


def check_request(scope: dict) -> HttpError | None:
    """The tool server's door: what h11 lets through but it refuses, before any routing."""
    method, headers = scope["method"], dict(scope["headers"])
    if (error := check_head(scope)) is not None:
        return error
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
    limit is served by ``too_many`` (an ASGI app; by default a 503 in ``error_body``), and
    a request h11 cannot parse gets a JSON answer, ``error_body(status, reason)``, with
    h11's reason and status (400, or 431 for a head over ``MAX_HEAD``). Give it to uvicorn
    as ``http=functools.partial(StrictH11Protocol, gate=, error_body=)``."""

    def __init__(self, *args: Any, gate: ConnectionGate,
                 too_many: Callable[..., Awaitable[None]] | None = None,
                 error_body: Callable[[int, str], dict] = tool_error_body,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _Connection(h11.SERVER, MAX_HEAD)
        self.gate, self.error_body, self.counted = gate, error_body, False
        self.too_many = too_many or self._too_many

    async def _too_many(self, scope, receive, send) -> None:
        body = self.error_body(503, "too many connections")
        await send_json(send, 503, body, drain=receive)

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
        body = json.dumps(self.error_body(status, str(error)[:200])).encode()
        headers = [("content-type", "application/json"), ("content-length", str(len(body))),
                   ("connection", "close")]
        for event in (h11.Response(
                status_code=status, headers=headers, reason=http.HTTPStatus(status).phrase), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
