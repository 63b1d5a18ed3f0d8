"""``serve()``: a local model server that speaks the OpenAI Chat Completions API.

Agents talk to models through the official SDKs; this gives the notebooks such a model
without the internet: ``openai.AsyncOpenAI(base_url=server.base_url,
api_key=server.api_key)`` works against it unchanged. The model is ``SimulatedLLM``
(``llm.py``): lognormal time to first token, tokens paced at a drawn rate, deterministic
words from the seed and the request. Around it, what a hosted API does: fixed-window rate
limits shared by all clients (``modelserver_rules``: 429 with ``retry-after`` and
``x-ratelimit-*`` headers), injected 500/503/529 at ``error_rate``, provider-shaped errors
with an ``x-request-id`` for bad input (also for a request the HTTP parser cannot read, or
a head over 16 KiB: ``http_door``), and a client that goes away stops its generation. A
Starlette app under uvicorn in a background thread (``serving``), stopped when the
``with`` block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import random
import re
import threading
import time
from typing import Any, NamedTuple

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from . import serving
from .http_door import MAX_HEAD, ConnectionGate, StrictH11Protocol, check_head, send_json
from .llm import SimulatedLLM
from .modelserver_rules import ApiError, Chat, FixedWindows, no_model, parse_chat, read_json
from .validate import check_int, check_number

__all__ = ["Attempt", "ModelServer", "serve"]

STOP_GRACE = 0.25  # seconds open requests get to finish when the server stops
MAX_CONNECTIONS = 4096  # open client connections; one more is answered 503
#: The injected failures: status, message, error type (the SDK raises InternalServerError).
FAILURES = ((500, "The server had an error while processing your request.", "server_error"),
            (503, "The engine is currently overloaded, please try again later.", "server_error"),
            (529, "Overloaded", "overloaded_error"))
_NAME = re.compile(r"[A-Za-z0-9._:-]{1,100}")  # a model name
_KEY = re.compile(r"[!-~]{1,200}")  # printable ASCII, no spaces
_COUNTERS = ("requests", "completed", "rate_limited", "errors", "client_errors",
             "disconnects", "in_flight", "peak_in_flight", "prompt_tokens",
             "completion_tokens", "tokens_generated")


class Attempt(NamedTuple):
    """One chat-completion request as the server saw it: ``t`` real seconds since the
    server started, the HTTP ``status``, the rate-limit ``window`` it fell in, the SDK's
    ``retry`` number (its ``x-stainless-retry-count`` header; -1 without one), the
    ``retry_after`` seconds it was told (0.0 if none) and the request's ``user`` field."""

    t: float
    status: int
    window: int
    retry: int
    retry_after: float
    user: str | None


def serve(*, rpm: int | None = 50, tpm: int | None = None, error_rate: float = 0.02,
          seed: int = 0, time_scale: float = 0.05, ttft_median: float = 0.4,
          ttft_p95: float = 2.0, tokens_per_s: float = 60.0, tokens_per_s_sd: float = 15.0,
          reply_tokens: int = 32, model: str = "asynclab-sim",
          api_key: str = "sk-asynclab-local", port: int = 0) -> ModelServer:
    """A local OpenAI-compatible model server; use it as a context manager::

        with asynclab.modelserver.serve(rpm=60, time_scale=1/60) as server:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
            ...
            server.stats()["rate_limited"]

    Durations are simulated seconds times ``time_scale`` (1/60: a minute lasts a second).
    ``rpm``/``tpm``: requests and tokens per (simulated) minute, fixed windows shared by
    all clients, ``None`` for no limit. ``error_rate``: the share of admitted requests
    answered 500, 503 or 529 after a time to first token. Latency: time to first token
    lognormal with ``ttft_median`` and ``ttft_p95``, then ``tokens_per_s`` +-
    ``tokens_per_s_sd`` (normal). Replies are ``reply_tokens`` words (fewer if the
    request's ``max_tokens`` says so), drawn from ``seed`` and the messages. Every
    argument is checked before anything starts.
    """
    return ModelServer(rpm=rpm, tpm=tpm, error_rate=error_rate, seed=seed,
                       time_scale=time_scale, ttft_median=ttft_median, ttft_p95=ttft_p95,
                       tokens_per_s=tokens_per_s, tokens_per_s_sd=tokens_per_s_sd,
                       reply_tokens=reply_tokens, model=model, api_key=api_key, port=port)


class ModelServer(serving.Served):
    """The server made by ``serve()``. Entering starts it; leaving stops it, cutting
    streams still open after ``STOP_GRACE`` seconds. It runs once."""

    KIND = "the model server"

    def __init__(self, *, rpm, tpm, error_rate, seed, time_scale, ttft_median, ttft_p95,
                 tokens_per_s, tokens_per_s_sd, reply_tokens, model, api_key, port) -> None:
        self.rpm = _check_limit("rpm", rpm, 1_000_000)
        self.tpm = _check_limit("tpm", tpm, 1_000_000_000)
        self.error_rate = check_number("error_rate", error_rate, 0, 1)
        self.reply_tokens = check_int("reply_tokens", reply_tokens, 1, 100_000)
        self.model = _check_text("model", model, _NAME, "1 to 100 letters, digits or ._:-")
        self.api_key = _check_text("api_key", api_key, _KEY, "1 to 200 printable ASCII characters")
        super().__init__(port)
        self._closing = False
        self._llm = SimulatedLLM(  # checks seed, time_scale and the latency model
            seed=seed, time_scale=time_scale, ttft_median=ttft_median, ttft_p95=ttft_p95,
            tokens_per_s=tokens_per_s, tokens_per_s_sd=tokens_per_s_sd, rpm=None,
            error_rate=0.0)
        self.seed, self.time_scale = seed, self._llm.time_scale
        self.window_s = 60.0 * self.time_scale  # a window's real length
        self._rng = random.Random(f"asynclab.modelserver.failures:{seed}")
        self._lock = threading.Lock()  # guards the counters and attempts (read from outside)
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._attempts: list[Attempt] = []
        self._limits = FixedWindows(rpm=self.rpm, tpm=self.tpm, window_s=self.window_s)
        self._gate = ConnectionGate(MAX_CONNECTIONS)
        self._error_ids = itertools.count(1)  # x-request-id of answers that are no attempt
        routes = [Route("/v1/chat/completions", self._completions, methods=["POST"]),
                  Route("/v1/models", self._models, methods=["GET"]),
                  Route("/v1/models/{model}", self._models, methods=["GET"])]
        self._app = Starlette(routes=routes, exception_handlers={
            ApiError: self._refused, HTTPException: self._refused})
        self._app.router.redirect_slashes = False

    # --- the Python side ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` takes: ``http://127.0.0.1:PORT/v1``."""
        return self.url + "/v1"

    def _start(self, stack: contextlib.ExitStack) -> serving.Running:
        self._limits = FixedWindows(rpm=self.rpm, tpm=self.tpm, window_s=self.window_s)
        return stack.enter_context(serving.serve(
            self._door, port=self._port, grace=STOP_GRACE, log_level="error",
            name="asynclab.modelserver", h11_max_incomplete_event_size=MAX_HEAD,
            http=functools.partial(StrictH11Protocol, gate=self._gate, error_body=_error_body)))

    def __exit__(self, *exc_info: Any) -> None:
        self._closing = True  # streams cut now are not disconnects
        super().__exit__(*exc_info)

    def stats(self) -> dict:
        """Counters since the start, and every chat-completion ``attempts`` (``Attempt``).

        ``requests`` counts every HTTP request; ``completed`` the answers given in full;
        ``rate_limited`` the 429s, ``errors`` the injected 5xx, ``client_errors`` the
        other 4xx; ``disconnects`` the clients that went away before their answer was
        complete; ``in_flight`` the requests being served now (``peak_in_flight`` the
        most at once); ``prompt_tokens`` and ``completion_tokens`` those of completed
        answers; ``tokens_generated`` every token the model produced (it stops growing
        when a client goes away).
        """
        with self._lock:
            unparsable = self._gate.take_unparsable()  # refused before routing: count them
            self._counts["requests"] += unparsable
            self._counts["client_errors"] += unparsable
            return {**self._counts, "attempts": list(self._attempts)}

    def until_next_window(self) -> float:
        """Real seconds until the next rate-limit window starts: sleep this long to start
        an experiment at a window's start, so its figures do not depend on when it began."""
        self._need_started()
        now = time.perf_counter()
        return self._limits.reset_at(self._limits.window_at(now)) - now

    def __repr__(self) -> str:
        where = f" {self.base_url}" if self.running else ""
        return (f"<ModelServer{where} {self._state} model={self.model} rpm={self.rpm} "
                f"tpm={self.tpm} error_rate={self.error_rate:g} time_scale={self.time_scale:g}>")

    # --- the server thread ----------------------------------------------------------

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self._counts[name] += delta
            c = self._counts
            c["peak_in_flight"] = max(c["peak_in_flight"], c["in_flight"])

    def _went_away(self) -> None:
        if not self._closing:
            self._count(disconnects=1)

    async def _door(self, scope, receive, send) -> None:
        """The ASGI app uvicorn runs: count the request while it is served."""
        if scope["type"] != "http":
            return await self._app(scope, receive, send)  # lifespan
        self._count(requests=1, in_flight=1)
        try:
            error = check_head(scope)
            if error is None:
                return await self._app(scope, receive, send)
            self._count(client_errors=1)
            await send_json(send, error.status, _error_body(error.status, str(error)),
                            [(b"x-request-id", self._error_id().encode())], drain=receive)
        finally:
            self._count(in_flight=-1)

    async def _refused(self, request, error) -> JSONResponse:
        """Starlette's handler for an ``ApiError``, an unknown path (404) or method (405)."""
        if isinstance(error, HTTPException):
            allow = dict(error.headers or {})  # 405 names the allowed methods
            message = f"Invalid URL ({request.method} {request.url.path[:200]})"
            if error.status_code == 405:
                message = f"Method {request.method} is not allowed on {request.url.path}"
            error = ApiError(error.status_code, message, headers=allow)
        if error.status != 429 and error.status < 500:
            self._count(client_errors=1)
        error.headers.setdefault("x-request-id", self._error_id())
        return error.response()

    def _error_id(self) -> str:
        return f"req_e{next(self._error_ids)}"

    def _check_key(self, request) -> None:
        given = request.headers.get("authorization", "")
        if not given.startswith("Bearer "):
            raise ApiError(401, "You didn't provide an API key: send 'Authorization: Bearer KEY'.",
                           code="missing_api_key")
        if given.removeprefix("Bearer ").strip() != self.api_key:
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    async def _models(self, request) -> JSONResponse:
        self._check_key(request)
        card = {"id": self.model, "object": "model", "created": 0, "owned_by": "asynclab"}
        wanted = request.path_params.get("model")
        if wanted is None:
            return JSONResponse({"object": "list", "data": [card]})
        if wanted != self.model:
            raise no_model(wanted)
        return JSONResponse(card)

    async def _completions(self, request) -> Response:
        now, user = time.perf_counter(), None
        retry = request.headers.get("x-stainless-retry-count", "")
        retry = int(retry) if retry.isascii() and retry.isdigit() else -1
        try:
            self._check_key(request)
            chat = parse_chat(await read_json(request), self.reply_tokens, self.seed)
            user = chat.user
            if chat.model != self.model:
                raise no_model(chat.model)
            admission = self._limits.admit(chat.prompt_tokens + chat.reply_tokens, self.model, now)
            if admission.refused is not None:
                self._count(rate_limited=1)
                raise ApiError(429, admission.message, admission.refused,
                               "rate_limit_exceeded", headers=admission.headers)
            with self._lock:
                failure = self._rng.choice(FAILURES) if self._rng.random() < self.error_rate else None
        except ApiError as error:
            number = self._attempt(now, error.status, user, retry,
                                   error.headers.get("retry-after-ms"))
            error.headers["x-request-id"] = f"req_{number}"
            raise
        except ClientDisconnect:  # gone before its request was all there
            self._went_away()
            return Response(status_code=499)
        number = self._attempt(now, failure[0] if failure else 200, user, retry, None)
        headers = {"x-request-id": f"req_{number}", **admission.headers}
        if failure is not None:
            self._count(errors=1)
            await self._llm.complete(chat.key, max_tokens=1)  # it fails after getting going
            raise ApiError(failure[0], failure[1], failure[2], headers=headers)
        reply = (f"chatcmpl-{number}", int(time.time()), chat)
        if chat.stream:
            media = "text/event-stream; charset=utf-8"
            return _ClosingStream(self._events(*reply), headers=headers, media_type=media)
        return await self._whole(request, *reply, headers=headers)

    def _attempt(self, now, status, user, retry, retry_after_ms) -> int:
        """Record an attempt; return how many there have been."""
        after = int(retry_after_ms) / 1000 if retry_after_ms else 0.0
        attempt = Attempt(now - self._limits.t0, status, self._limits.window_at(now), retry,
                          after, user)
        with self._lock:
            self._attempts.append(attempt)
            return len(self._attempts)

    async def _tokens(self, chat: Chat):
        async with contextlib.aclosing(self._llm.stream(chat.key, max_tokens=chat.reply_tokens)) as tokens:
            async for token in tokens:
                self._count(tokens_generated=1)
                yield token

    async def _collect(self, chat: Chat) -> list[str]:
        return [token async for token in self._tokens(chat)]

    async def _whole(self, request, rid, created, chat, *, headers) -> Response:
        """Generate the whole reply, unless the client goes away first."""
        work = asyncio.ensure_future(self._collect(chat))
        gone = asyncio.ensure_future(_disconnected(request.receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            finished = work.done()
        finally:
            work.cancel()
            gone.cancel()
        if not finished:
            self._went_away()
            return Response(status_code=499)  # nobody is listening
        text = "".join(work.result())
        self._count(completed=1, prompt_tokens=chat.prompt_tokens,
                    completion_tokens=chat.reply_tokens)
        message = {"role": "assistant", "content": text, "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": chat.finish_reason}
        return JSONResponse({**_head(rid, created, chat, "chat.completion"),
                             "choices": [choice], "usage": _usage(chat)}, headers=headers)

    async def _events(self, rid, created, chat):
        """The server-sent events of a streamed reply, as the SDK parses them."""
        head = _head(rid, created, chat, "chat.completion.chunk")
        extra = {"usage": None} if chat.include_usage else {}

        def event(delta: dict, finish_reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return _sse({**head, "choices": [choice], **extra})

        try:
            yield event({"role": "assistant", "content": ""})
            async with contextlib.aclosing(self._tokens(chat)) as tokens:
                async for token in tokens:
                    yield event({"content": token})
            yield event({}, chat.finish_reason)
            if chat.include_usage:
                yield _sse({**head, "choices": [], "usage": _usage(chat)})
            self._count(completed=1, prompt_tokens=chat.prompt_tokens,
                        completion_tokens=chat.reply_tokens)
        except (asyncio.CancelledError, GeneratorExit):
            self._went_away()
            raise
        yield b"data: [DONE]\n\n"


class _ClosingStream(StreamingResponse):
    """A streaming response that closes its generator however the response ends (a
    client gone while a chunk was being sent leaves it suspended otherwise)."""

    async def __call__(self, scope, receive, send) -> None:
        async with contextlib.aclosing(self.body_iterator):
            await super().__call__(scope, receive, send)


async def _disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _error_body(status: int, message: str) -> dict:
    """A refusal at the door in the provider's shape (as ``ApiError.response`` writes it)."""
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _sse(data: dict) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def _head(rid: str, created: int, chat: Chat, kind: str) -> dict:
    return {"id": rid, "object": kind, "created": created, "model": chat.model,
            "system_fingerprint": None}


def _usage(chat: Chat) -> dict:
    return {"prompt_tokens": chat.prompt_tokens, "completion_tokens": chat.reply_tokens,
            "total_tokens": chat.prompt_tokens + chat.reply_tokens}


# --- the knobs -------------------------------------------------------------------------


def _check_limit(name: str, value: Any, hi: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be None (no limit) or an integer between 1 and {hi}, "
                        f"got {value!r}")
    return check_int(name, value, 1, hi)


def _check_text(name: str, value: Any, pattern: re.Pattern, allowed: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string of {allowed}, got {value!r}")
    if not pattern.fullmatch(value):
        raise ValueError(f"{name} must be {allowed}, got {value[:120]!r}")
    return value
