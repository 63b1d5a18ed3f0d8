"""``serve(app)``: run an ASGI app under uvicorn in a background thread, as a context manager.

The socket is bound here (127.0.0.1; port 0 picks a free one) and handed to uvicorn, so
there is no race for the port. The server has its own loop in its own thread, so this works
from scripts and from notebook cells. However the block ends, the server stops: requests
still open after ``grace`` seconds are cut off unanswered, and no thread or socket is left.
``Served`` is the run-once lifecycle the lab's servers share around it: enter starts,
exit stops, and ``port``/``url`` exist once it has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple, Self

import uvicorn

from .validate import check_callable, check_int, check_number

__all__ = ["serve", "Running", "Served"]


class Running(NamedTuple):
    """What ``serve`` yields: the base URL, the port and the ``uvicorn.Server``."""

    url: str
    port: int
    server: uvicorn.Server


@contextlib.contextmanager
def serve(
    app: Any, *, port: int = 0, grace: float = 1.0, start_timeout: float = 5.0,
    backlog: int = 2048, log_level: str = "warning", name: str = "asynclab.serving",
    **options: Any,
) -> Iterator[Running]:
    """Serve ``app`` on ``http://127.0.0.1:PORT`` while the block runs.

    ``grace`` is how long open requests may take to finish once the block ends;
    ``start_timeout`` bounds the wait for the server to come up. Other keyword arguments
    go to ``uvicorn.Config`` (``http=``, ``timeout_keep_alive=``...). No access log, and
    uvicorn logs only at ``log_level`` and above (it sets that on its own loggers).
    """
    check_callable("app", app)
    check_int("port", port, 0, 65535)
    check_int("backlog", backlog, 1, 65535)
    check_number("grace", grace, 0, 60)
    check_number("start_timeout", start_timeout, 0, 60, lo_open=True)
    stop, stopping = threading.Event(), threading.Event()

    async def guarded(scope, receive, send):  # a request cut at the stop ends quietly
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            if not stopping.is_set():
                raise

    options = {"http": "h11", "ws": "none", "proxy_headers": False, **options}
    server = uvicorn.Server(uvicorn.Config(  # uvicorn's graceful timeout is only a backstop
        guarded, log_config=None, log_level=log_level, access_log=False, interface="asgi3",
        timeout_graceful_shutdown=grace + 2, backlog=backlog, **options,
    ))
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted sockets only if the
    # listener says TCP, and without it a response's head and body wait ~40 ms apart.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    errors, thread = [], None
    try:
        if os.name == "posix":  # rebind a fixed port at once after a stop
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(backlog)
        port = sock.getsockname()[1]
        args = (server, sock, stop, stopping, grace, errors)
        thread = threading.Thread(target=_thread_main, args=args, name=name, daemon=True)
        thread.start()
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive():
                cause = errors[0] if errors else None
                raise RuntimeError(f"the server on port {port} failed to start") from cause
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {start_timeout:g} s")
            time.sleep(0.002)
        yield Running(f"http://127.0.0.1:{port}", port, server)
    finally:  # also on KeyboardInterrupt: leave nothing behind
        stop.set()
        try:
            if thread is not None:
                try:
                    thread.join(grace + 5)
                except KeyboardInterrupt:  # the stop is on its way: let it finish
                    thread.join(grace + 5)
                    raise
                if thread.is_alive():
                    warnings.warn(f"the server thread {name} did not stop", RuntimeWarning, 3)
        finally:
            sock.close()


class Served:
    """A server that runs once, in a ``with`` block: entering starts it (``_start`` enters
    ``serve`` and whatever else it needs into the stack it is given, and returns the
    ``Running``), leaving stops it, however the block ends; leaving again does nothing.
    ``port`` and ``url`` exist once it has started. Subclasses name themselves in ``KIND``
    (for messages) and keep their own counters."""

    KIND = "the server"

    def __init__(self, port: int) -> None:
        self._port = check_int("port", port, 0, 65535)
        self._state = "new"  # -> starting -> running -> stopped
        self._started = False  # it came up (and so has had an address)
        self._stack = contextlib.ExitStack()

    def _start(self, stack: contextlib.ExitStack) -> Running:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """True inside its ``with`` block (started and not yet stopped)."""
        return self._state == "running"

    @property
    def port(self) -> int:
        """The port it listens on, once entered (after the stop, the port it had, where
        nothing listens any more: a request there is refused)."""
        self._need_started()
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, once entered (see ``port``)."""
        return f"http://127.0.0.1:{self.port}"

    def _need_started(self) -> None:
        if not self._started:
            raise RuntimeError(f"{self.KIND} has no address yet: use it in a with-block")

    def __enter__(self) -> Self:
        if self._state != "new":
            name = type(self).__name__
            raise RuntimeError(f"a {name} runs only once: call serve() again for a new one")
        self._state = "starting"
        try:
            running = self._start(self._stack)
        except BaseException:
            self._state = "stopped"
            self._stack.close()
            raise
        self._port, self._state, self._started = running.port, "running", True
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._state = "stopped"
        self._stack.close()


def _thread_main(server, sock, stop, stopping, grace, errors) -> None:
    try:
        with asyncio.Runner() as runner:  # not asyncio.run, which nest_asyncio2 replaces
            runner.run(_main(server, sock, stop, stopping, grace))
    except BaseException as exc:  # reported by ``serve``; uvicorn may raise SystemExit
        errors.append(exc)


async def _main(server, sock, stop, stopping, grace) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not stop.is_set() and not task.done():
        await asyncio.wait({task}, timeout=0.02)
    if not task.done() and not server.started:
        task.cancel()  # stuck starting up
    elif not task.done():
        server.should_exit = True  # uvicorn closes idle connections and waits for the rest
        await asyncio.wait({task}, timeout=grace)
        if not task.done():
            stopping.set()
            for connection in list(server.server_state.connections):
                connection.transport.abort()  # the client sees the connection close
            await asyncio.sleep(0)  # let the protocols see it, so nothing answers
            for request in list(server.server_state.tasks):
                request.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
