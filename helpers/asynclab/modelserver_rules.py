"""The rules a hosted chat API applies at its door, before the model runs.

Request checks: a chat-completion request is parsed and checked the way the hosted API
checks it, and refused with a 400 (413 for a body over 1 MiB) whose body has the
provider's shape, ``{"error": {"message", "type", "param", "code"}}``, naming the
parameter, so the SDK raises ``BadRequestError`` with that message. ``ApiError`` is any
such answer (401, 404, 429, 5xx too).

Rate limits: requests and tokens per minute are counted in fixed windows of one simulated
minute (``60 * time_scale`` real seconds), aligned to the server's start and shared by
every client. A request that would go over a limit is refused with a 429 whose
``Retry-After`` is the end of the current window, so every client refused in one window is
told the same reset time (and, if they all honour it, comes back at the same moment). A
request larger than the whole token limit can never pass: it is refused without a
``Retry-After`` and with ``x-should-retry: false``, so the SDK does not retry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from .http_door import LINGER

__all__ = ["Admission", "ApiError", "Chat", "FixedWindows", "go_duration", "no_model",
           "parse_chat", "read_json"]

MAX_BODY = 1024 * 1024  # bytes of a request body
ROLES = ("system", "developer", "user", "assistant", "tool")
_HANDLED = {"model", "messages", "stream", "stream_options", "max_tokens",
            "max_completion_tokens", "n", "user", "safety_identifier"}
_IGNORED = {"temperature", "top_p", "seed", "stop", "metadata", "store", "presence_penalty",
            "frequency_penalty", "logit_bias", "service_tier", "prompt_cache_key",
            "reasoning_effort", "verbosity"}  # accepted; they change nothing here
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
               int: "an integer", float: "a number", type(None): "null"}


# --- request checks ---------------------------------------------------------------


class ApiError(Exception):
    """An answer with an OpenAI-shaped error body: ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers=None) -> None:
        super().__init__(message)
        self.status, self.type, self.code, self.param = status, type, code, param
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"message": str(self), "type": self.type, "param": self.param, "code": self.code}
        return JSONResponse({"error": body}, self.status, self.headers)


class Chat(NamedTuple):
    """A checked chat-completion request."""

    model: str
    key: str  # what the reply's words are drawn from: the seed and the messages
    prompt_tokens: int
    reply_tokens: int
    finish_reason: str
    stream: bool
    include_usage: bool
    user: str | None


def no_model(name: str) -> ApiError:
    return ApiError(404, f"The model `{name[:100]}` does not exist or you do not have access to it.",
                    code="model_not_found", param="model")




async def read_json(request) -> Any:
    """The request's JSON body, or a 400 (not JSON) or 413 (over ``MAX_BODY``). Before a
    413 the rest of the body is read and dropped (for up to ``LINGER`` s): a connection
    closed with unread input is reset, and the reset would destroy the answer."""
    length = request.headers.get("content-length", "0")
    too_big = length.isdigit() and int(length) > MAX_BODY
    body, chunks = b"", request.stream()
    async for chunk in chunks if not too_big else _nothing():
        body += chunk
        if len(body) > MAX_BODY:
            too_big = True
            break
    if too_big:
        with contextlib.suppress(TimeoutError, ClientDisconnect):
            async with asyncio.timeout(LINGER):
                drained = 0
                async for chunk in chunks:
                    drained += len(chunk)
                    if drained > 8 * MAX_BODY:
                        break
        raise ApiError(413, f"The request body is over {MAX_BODY} bytes.",
                       code="request_too_large")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ApiError(400, "We could not parse the JSON body of your request. The body "
                            "must be one JSON object.", code="invalid_json") from None


async def _nothing():
    return
    yield


def _type_error(param: str, value: Any, expected: str) -> ApiError:
    got = _JSON_TYPES.get(type(value), type(value).__name__)
    return ApiError(400, f"Invalid type for '{param}': expected {expected}, but got {got} instead.",
                    code="invalid_type", param=param)


def _field(body: dict, name: str, kind: type, expected: str, *, where: str = "",
           required: bool = False) -> Any:
    """``body[name]`` if it is a ``kind`` (null or absent: None, unless required)."""
    param, value = where + name, body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"Missing required parameter: '{param}'.",
                           code="missing_required_parameter", param=param)
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _type_error(param, value, expected)
    return value


def _text_of(message: dict, where: str) -> str:
    content = message.get("content")
    if content is None and message["role"] == "assistant":
        return ""  # an assistant turn with tool calls only
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _type_error(where + ".content", content, "a string or an array of text parts")
    texts = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        if not isinstance(part, dict) or part.get("type") != "text":
            raise ApiError(400, f"Invalid '{here}': only parts of type 'text' are supported here.",
                           code="invalid_value", param=here)
        texts.append(_field(part, "text", str, "a string", where=here + ".", required=True))
    return "\n".join(texts)


def parse_chat(body: Any, reply_tokens: int, seed: int) -> Chat:
    """Check a chat-completion request the way the hosted API does (a 400 naming the
    parameter) and return what the server needs of it."""
    if not isinstance(body, dict):
        raise _type_error("body", body, "an object")
    unknown = sorted(set(body) - _HANDLED - _IGNORED)
    if unknown:
        raise ApiError(400, f"Unrecognized request argument supplied: {unknown[0]}",
                       code="unknown_parameter", param=unknown[0])
    model = _field(body, "model", str, "a string", required=True)
    messages = _field(body, "messages", list, "an array", required=True)
    if not messages:
        raise ApiError(400, "Invalid 'messages': empty array. Expected an array with minimum "
                            "length 1.", code="empty_array", param="messages")
    turns = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _type_error(where, message, "an object")
        role = _field(message, "role", str, "a string", where=where + ".", required=True)
        if role not in ROLES:
            raise ApiError(400, f"Invalid value for '{where}.role': {role[:40]!r}; supported "
                                f"values are {', '.join(ROLES)}.", code="invalid_value",
                           param=where + ".role")
        turns.append((role, _text_of(message, where)))
    stream = bool(_field(body, "stream", bool, "a boolean"))
    options = _field(body, "stream_options", dict, "an object")
    if options is not None and not stream:
        raise ApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is "
                            "enabled.", code="invalid_value", param="stream_options")
    include_usage = bool(options and _field(options, "include_usage", bool, "a boolean",
                                            where="stream_options."))
    limit = None
    for name in ("max_completion_tokens", "max_tokens"):
        value = _field(body, name, int, "an integer")
        if value is not None and value < 1:
            raise ApiError(400, f"Invalid '{name}': integer below minimum value. Expected a "
                                f"value >= 1, but got {value} instead.", code="integer_below_min_value",
                           param=name)
        limit = value if limit is None else limit
    n = _field(body, "n", int, "an integer")
    if n not in (None, 1):
        raise ApiError(400, f"Invalid value for 'n': this server gives 1 choice, got {n}.",
                       code="invalid_value", param="n")
    user = _field(body, "user", str, "a string")
    user = _field(body, "safety_identifier", str, "a string") if user is None else user
    canonical = json.dumps([seed, model, turns], separators=(",", ":"))
    length = reply_tokens if limit is None else min(reply_tokens, limit)
    return Chat(model, f"{seed}:{hashlib.sha256(canonical.encode()).hexdigest()}",
                sum(len(text.split()) for _, text in turns), length,
                "length" if length < reply_tokens else "stop", stream, include_usage, user)


# --- rate limits ----------------------------------------------------------------------


class Admission(NamedTuple):
    """The limiter's verdict on one request: ``refused`` is ``None`` (let in),
    ``"requests"`` or ``"tokens"`` (the limit that refused it); ``retry_after`` is the
    real seconds until the window resets (``None`` if waiting cannot help); ``headers``
    are the ``x-ratelimit-*`` (and for a refusal ``retry-after``) response headers."""

    refused: str | None
    retry_after: float | None
    window: int
    message: str
    headers: dict[str, str]


def go_duration(seconds: float) -> str:
    """A duration as the ``x-ratelimit-reset-*`` headers write it: ``250ms``, ``1.5s``,
    ``6m0s`` (rounded up to the millisecond)."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms < 1000:
        return f"{ms}ms"
    minutes, ms = divmod(ms, 60_000)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class FixedWindows:
    """Requests and tokens per window, shared by all clients.

    ``rpm``/``tpm`` are the limits per window (``None``: no limit), ``window_s`` the
    window's real length, ``clock`` the time source (``time.perf_counter``). Not
    thread-safe: the model server calls it from its event loop only, without awaiting.
    """

    def __init__(self, *, rpm: int | None, tpm: int | None, window_s: float,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.rpm, self.tpm, self.window_s, self.clock = rpm, tpm, window_s, clock
        self.t0 = clock()
        self._window, self._requests, self._tokens = 0, 0, 0

    def window_at(self, now: float) -> int:
        """The index of the window that holds ``now`` (0 from the start)."""
        return int((now - self.t0) // self.window_s)

    def reset_at(self, window: int) -> float:
        """The clock time at which ``window`` ends and the next one starts."""
        return self.t0 + (window + 1) * self.window_s

    def admit(self, tokens: int, model: str, now: float | None = None) -> Admission:
        """Count a request of ``tokens`` tokens (prompt plus the most it may generate)
        against the window that holds ``now``, or refuse it without counting it."""
        now = self.clock() if now is None else now
        window = self.window_at(now)
        if window != self._window:
            self._window, self._requests, self._tokens = window, 0, 0
        reset_in = self.reset_at(window) - now
        refused, message, retry_after = None, "", reset_in
        if self.rpm is not None and self._requests + 1 > self.rpm:
            refused = "requests"
            message = (f"Rate limit reached for {model} on requests per min (RPM): "
                       f"Limit {self.rpm}, Used {self._requests}, Requested 1. "
                       f"Please try again in {go_duration(reset_in)}.")
        elif self.tpm is not None and tokens > self.tpm:
            refused, retry_after = "tokens", None
            message = (f"Request too large for {model} on tokens per min (TPM): "
                       f"Limit {self.tpm}, Requested {tokens}. The input or output tokens "
                       f"must be reduced in order to run successfully.")
        elif self.tpm is not None and self._tokens + tokens > self.tpm:
            refused = "tokens"
            message = (f"Rate limit reached for {model} on tokens per min (TPM): "
                       f"Limit {self.tpm}, Used {self._tokens}, Requested {tokens}. "
                       f"Please try again in {go_duration(reset_in)}.")
        if refused is None:
            self._requests += 1
            self._tokens += tokens
        headers = self._headers(reset_in)
        if refused is not None and retry_after is not None:
            headers["retry-after"] = str(max(1, math.ceil(retry_after)))  # whole seconds
            headers["retry-after-ms"] = str(max(1, math.ceil(retry_after * 1000)))
        elif refused is not None:
            headers["x-should-retry"] = "false"  # the SDK gives up at once: waiting cannot help
        return Admission(refused, retry_after, window, message, headers)

    def _headers(self, reset_in: float) -> dict[str, str]:
        headers = {}
        for kind, limit, used in (("requests", self.rpm, self._requests),
                                  ("tokens", self.tpm, self._tokens)):
            if limit is not None:
                headers[f"x-ratelimit-limit-{kind}"] = str(limit)
                headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - used))
                headers[f"x-ratelimit-reset-{kind}"] = go_duration(reset_in)
        return headers
