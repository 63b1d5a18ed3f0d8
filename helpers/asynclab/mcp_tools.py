"""``serve()``: the research desk's tools on a local MCP server (the official ``mcp`` SDK, 2.x).

Agents reach their tools over the Model Context Protocol; this serves four of them over
streamable HTTP on 127.0.0.1 (Starlette under uvicorn in a background thread, ``serving``),
so a notebook's ``ClientSession`` talks to a real MCP server without the internet:

- ``search(query, n=3)``: deterministic hits for the query (an awaited wait: ``latency``);
- ``fetch_page(url)``: the text of a hit's URL or of a page id such as ``"3"`` (``latency``);
- ``query_db(sql)``: one read-only SELECT on a small sqlite database the server builds in a
  temporary file at start and removes at stop; sqlite is synchronous, so it runs through
  ``asyncio.to_thread`` (after ``latency``);
- ``legacy_report(topic)``: a vendor's blocking function (``legacy_latency`` seconds), kept
  off the server's event loop with ``asyncio.to_thread`` (``offload=False`` runs it on the
  loop instead, to show what that costs every other call).

``stats()`` counts, on the server's side, the calls each tool ran, their errors, the calls
in flight and the most in flight at once: the proof that agents' calls overlapped.

Any other client gets what the SDK would answer, but always as a JSON-RPC error, and
without a warning on the kernel's stderr: a request the HTTP parser cannot read, a path
other than ``/mcp``, a foreign ``Host`` or ``Origin`` and a body over the SDK's limit are
refused at the door (``http_door``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import random
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

# The client SDK validates each tool result against its output schema with jsonschema,
# which it imports at the first tool call: seconds (it builds grammars at import) that
# would freeze the caller's event loop inside an experiment. Imported here instead.
import jsonschema  # noqa: F401
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE as MAX_BODY

from . import serving
from .http_door import (
    MAX_HEAD,
    ConnectionGate,
    HttpError,
    StrictH11Protocol,
    check_head,
    check_loopback,
    json_refusals,
    send_json,
)
from .validate import check_number

__all__ = ["serve", "DeskServer", "TOOLS", "DESCRIPTIONS", "text"]

#: The tools, in the order ``stats()`` lists them.
TOOLS = ("search", "fetch_page", "query_db", "legacy_report")
#: What ``list_tools`` tells a client (and its model) about each tool.
DESCRIPTIONS = {
    "search": "Search the web (simulated): up to n hits (1 to 10), each a title and a URL "
              "that fetch_page can read. The same query always gives the same hits.",
    "fetch_page": "The text of a page: a URL from search's hits, or a page id such as '3'.",
    "query_db": "Run one read-only SELECT on the research archive, table calls(id, agent, "
                "tool, latency_ms); returns the columns and the rows (at most 1000).",
    "legacy_report": "A report on a topic from the legacy reporting system (a blocking "
                     "vendor SDK, run in a worker thread).",
}

MAX_LATENCY = 10.0  # seconds, for latency and legacy_latency
MAX_ROWS = 1000  # rows query_db returns at most
DB_TIMEOUT = 5.0  # seconds a query may run before query_db stops it
STOP_GRACE = 0.5  # seconds calls in flight get to finish when the server stops
START_TIMEOUT = 10.0  # seconds serve() waits for the server to come up
PATH = "/mcp"  # the streamable HTTP endpoint
MAX_CONNECTIONS = 4096  # open client connections; one more is answered 503
SITE = "https://example.org/"  # where search's hits live (the lab has no internet)
_WORDS = (
    "agent tool call loop task queue await result cache retry timeout worker plan "
    "search answer page token stream event future lock budget trace"
).split()
_AGENTS = ("planner", "researcher", "analyst", "writer")
# What a query may do: read tables, call functions, recurse in a CTE. Anything else (an
# insert, a pragma, an attach...) is denied by sqlite itself, on a read-only connection.
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def serve(
    *, latency: float = 0.05, legacy_latency: float = 0.1, offload: bool = True, port: int = 0,
) -> DeskServer:
    """The research desk's MCP server; use it as a context manager::

        with asynclab.mcp_tools.serve(latency=0.1) as desk:
            async with streamable_http_client(desk.url) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    result = await session.call_tool("search", {"query": "asyncio"})

    ``latency`` is how long ``search``, ``fetch_page`` and ``query_db`` wait (awaited, like
    a remote service's round trip); ``legacy_latency`` how long ``legacy_report`` blocks
    its thread; both 0 to 10 s. ``offload=False`` runs ``legacy_report`` on the server's
    event loop (the mistake, to demonstrate). ``port`` 0 picks a free port on 127.0.0.1.
    """
    return DeskServer(latency=latency, legacy_latency=legacy_latency, offload=offload, port=port)


def text(result: Any) -> str:
    """The text of a ``CallToolResult`` (its text blocks, joined by newlines)."""
    content = getattr(result, "content", None)
    if not isinstance(content, list):
        raise TypeError(f"result must be a CallToolResult (session.call_tool's answer), "
                        f"got {type(result).__name__}")
    return "\n".join(block.text for block in content if getattr(block, "type", "") == "text")


class DeskServer(serving.Served):
    """The server made by ``serve()``. Entering builds its database and starts its thread;
    leaving stops the server, its worker threads and removes the database."""

    KIND = "the MCP server"

    def __init__(self, *, latency=0.05, legacy_latency=0.1, offload=True, port=0) -> None:
        self._latency = check_number("latency", latency, 0, MAX_LATENCY)
        self._legacy_latency = check_number("legacy_latency", legacy_latency, 0, MAX_LATENCY)
        if not isinstance(offload, bool):
            raise TypeError(f"offload must be True or False, got {offload!r}")
        self._offload = offload
        super().__init__(port)
        self._lock = threading.Lock()  # guards the counters (read from other threads)
        self._in_flight = 0
        self._reset_counters()
        self._stopping = threading.Event()  # the stop, for the worker threads
        self._stop_event = asyncio.Event()  # the same, for the server's loop
        self._loop: asyncio.AbstractEventLoop | None = None  # the server's, once a call ran
        self._db: str | None = None
        self._gate = ConnectionGate(MAX_CONNECTIONS)

    # --- the Python side ------------------------------------------------------------

    @property
    def url(self) -> str:
        """The MCP endpoint, ``http://127.0.0.1:PORT/mcp``, once entered (see ``port``)."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def database(self) -> str | None:
        """The path of the sqlite file while running (None before and after)."""
        return self._db

    def _start(self, stack: contextlib.ExitStack) -> serving.Running:
        stack.callback(self._remove_database)
        self._db = _build_database()
        running = stack.enter_context(serving.serve(
            functools.partial(_door, self._build_app()), port=self._port, grace=STOP_GRACE,
            start_timeout=START_TIMEOUT, log_level="error", name="asynclab.mcp_tools",
            h11_max_incomplete_event_size=MAX_HEAD,
            http=functools.partial(StrictH11Protocol, gate=self._gate, error_body=_rpc_error),
        ))
        stack.callback(self._cut_calls)  # first at the stop
        return running

    def stats(self) -> dict:
        """Counters since start (or ``reset_stats``): ``calls`` each tool ran (arguments the
        SDK refuses never reach a tool), ``errors`` each tool answered with ``is_error``,
        ``in_flight`` now and ``peak_in_flight``, the most calls running at once."""
        with self._lock:
            return {"calls": dict(self._calls), "errors": dict(self._errors),
                    "in_flight": self._in_flight, "peak_in_flight": self._peak}

    def reset_stats(self) -> None:
        """Zero the counters (``in_flight`` stays true to now)."""
        with self._lock:
            self._reset_counters()

    def __repr__(self) -> str:
        where = f" {self.url}" if self.running else ""
        return (f"<DeskServer{where} {self._state} latency={self._latency:g} "
                f"legacy_latency={self._legacy_latency:g} offload={self._offload}>")

    def _reset_counters(self) -> None:
        self._calls, self._errors = dict.fromkeys(TOOLS, 0), dict.fromkeys(TOOLS, 0)
        self._peak = self._in_flight

    def _cut_calls(self) -> None:
        """End every call in flight at once, each with the tool error "the server is
        stopping", so clients get an answer before their connections close."""
        self._stopping.set()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already closed
                loop.call_soon_threadsafe(self._stop_event.set)

    async def _wait(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``, cut short (as a tool error) by the server's stop."""
        try:
            async with asyncio.timeout(seconds):
                await self._stop_event.wait()
        except TimeoutError:
            return
        raise ToolError("the server is stopping")

    def _remove_database(self) -> None:
        if self._db is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._db)
            self._db = None

    @contextlib.contextmanager
    def _counted(self, tool: str):
        self._loop = asyncio.get_running_loop()  # the server's, for the stop
        if self._stopping.is_set():
            self._stop_event.set()  # the stop came before the loop was known
        with self._lock:
            self._calls[tool] += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
        try:
            yield
        except BaseException as exc:
            if isinstance(exc, Exception):
                with self._lock:
                    self._errors[tool] += 1
            raise
        finally:
            with self._lock:
                self._in_flight -= 1

    # --- the MCP side: the tools, run on the server's event loop ----------------------

    def _build_app(self):
        # The SDK configures the root logger when a server is made (logging.basicConfig);
        # a helper must not change the logging of the process that uses it.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            mcp = MCPServer("asynclab research desk", log_level="WARNING")
        finally:
            root.handlers[:], root.level = handlers, level

        @mcp.tool(description=DESCRIPTIONS["search"])
        async def search(query: str, n: int = 3) -> dict[str, Any]:
            with self._counted("search"):
                await self._wait(self._latency)
                return _search(query, n)

        @mcp.tool(description=DESCRIPTIONS["fetch_page"])
        async def fetch_page(url: str) -> str:
            with self._counted("fetch_page"):
                await self._wait(self._latency)
                return _page(url)

        @mcp.tool(description=DESCRIPTIONS["query_db"])
        async def query_db(sql: str) -> dict[str, Any]:
            with self._counted("query_db"):
                await self._wait(self._latency)
                return await asyncio.to_thread(_select, self._db, sql, self._stopping)

        @mcp.tool(description=DESCRIPTIONS["legacy_report"])
        async def legacy_report(topic: str) -> str:
            with self._counted("legacy_report"):
                seconds = self._legacy_latency
                if self._offload:
                    return await asyncio.to_thread(_legacy_report, topic, seconds, self._stopping)
                return _legacy_report(topic, seconds, self._stopping)  # blocks the loop

        return mcp.streamable_http_app(streamable_http_path=PATH)


# --- the door: every refusal a JSON-RPC error, as the SDK words its own ------------------


def _rpc_error(status: int, message: str) -> dict:
    """A refusal in the SDK's words: a JSON-RPC error without a request id, "invalid
    request" (the SDK answers a body that is not JSON with its own -32700 parse error)."""
    return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}


async def _door(app, scope, receive, send) -> None:
    """Refuse at the door what the SDK would refuse (a bad head, another path, a foreign
    Host or Origin) as JSON-RPC errors; turn the SDK's own plain-text refusals into JSON."""
    if scope["type"] != "http":
        return await app(scope, receive, send)  # lifespan
    error = check_head(scope) or check_loopback(scope)
    length = dict(scope["headers"]).get(b"content-length", b"0")
    if error is None and scope["path"] != PATH:
        error = HttpError(404, f"no MCP endpoint at {scope['path'][:100]!r}: it is {PATH}")
    elif error is None and length.isdigit() and int(length) > MAX_BODY:  # answered, then
        error = HttpError(413, "Request body too large", close=True)  # the body drained
    if error is not None:
        body = _rpc_error(error.status, str(error))
        return await send_json(send, error.status, body, drain=receive if error.close else None)
    await app(scope, receive, json_refusals(send, _rpc_error))


# --- the tools' answers: deterministic, derived from the arguments ---------------------


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _search(query: str, n: int) -> dict[str, Any]:
    if not query.strip() or len(query) > 200:
        raise ToolError(f"query must be 1 to 200 characters, got {query!r}")
    if not 1 <= n <= 10:
        raise ToolError(f"n must be between 1 and 10, got {n}")
    slug = quote(query.strip().casefold().replace(" ", "-"), safe="-")
    hits = [{"title": f"{query.strip()}: result {i}", "url": f"{SITE}{slug}/{i}"}
            for i in range(1, n + 1)]
    return {"query": query, "results": hits}


def _page(url: str) -> str:
    raw = url.strip()
    if raw.isascii() and raw.isdigit() and len(raw) <= 7 and int(raw) <= 1_000_000:
        n = int(raw)
        return f"Page {n}. " + " ".join(random.Random(n).choices(_WORDS, k=40)) + "."
    if raw.startswith(SITE) and len(raw) <= 300 and raw != SITE:
        words = random.Random(_digest(raw)).choices(_WORDS, k=40)
        return f"{raw[len(SITE):]}. " + " ".join(words) + "."
    raise ToolError(f"no page at {url!r}: fetch_page reads URLs from search's hits "
                    f"({SITE}...) or page ids 0 to 1000000 (the lab has no internet)")


def _legacy_report(topic: str, seconds: float, stopping: threading.Event) -> str:
    """Blocks its thread for ``seconds``, as ``time.sleep`` would; a stopping server cuts
    the wait short (a vendor's SDK offers no such thing, but a lab must stop promptly)."""
    if stopping.wait(seconds):
        raise ToolError("the server is stopping")
    return f"Legacy report on {topic!r}: {_digest(topic) % 90 + 10} records."


def _build_database() -> str:
    """The archive, in a fresh temporary file: 200 recorded tool calls of four agents."""
    fd, path = tempfile.mkstemp(prefix="asynclab-mcp-", suffix=".sqlite")
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            db.execute("create table calls (id integer primary key, agent text, tool text, "
                       "latency_ms real)")
            db.executemany("insert into calls (agent, tool, latency_ms) values (?, ?, ?)", [
                (_AGENTS[i % 4], TOOLS[i * 7 % 4], 100 + 37 * i % 400) for i in range(200)])
    except BaseException:
        os.remove(path)
        raise
    return path


def _select(path: str | None, sql: str, stopping: threading.Event) -> dict[str, Any]:
    """One read-only SELECT, in the calling (worker) thread, on its own connection."""
    first = sql.lstrip().split(None, 1)[0].casefold() if sql.strip() else ""
    if first not in ("select", "with"):
        raise ToolError(f"query_db runs one read-only SELECT, got {sql[:60]!r}")
    if path is None:
        raise ToolError("the server is stopping")
    deadline = time.monotonic() + DB_TIMEOUT
    uri = Path(path).as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        db.set_authorizer(lambda action, *_: sqlite3.SQLITE_OK if action in _ALLOWED
                          else sqlite3.SQLITE_DENY)
        db.set_progress_handler(
            lambda: stopping.is_set() or time.monotonic() > deadline, 10_000)
        try:
            cursor = db.execute(sql)
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except sqlite3.Error as exc:
            if stopping.is_set():
                raise ToolError("the server is stopping") from None
            if time.monotonic() > deadline:
                raise ToolError(f"query_db stopped the query after {DB_TIMEOUT:g} s") from None
            raise ToolError(f"query_db refused {sql[:60]!r}: {exc}") from None
        columns = [c[0] for c in cursor.description or ()]
    return {"columns": columns, "rows": [list(r) for r in rows[:MAX_ROWS]],
            "truncated": len(rows) > MAX_ROWS}
