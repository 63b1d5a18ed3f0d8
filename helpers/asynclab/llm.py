"""``SimulatedLLM``: an in-process chat-model endpoint with realistic latency and failures.

Time to first token is lognormal, output streams at a few dozen tokens per second, a
shared requests-per-minute limit answers ``RateLimited(retry_after)`` (a 429 with
``Retry-After``) and a small fraction of calls fail with ``ServerError`` (a 5xx). The
defaults follow what hosted chat models show (time to first token: median about
0.4 s, p95 about 2 s; 60 +- 15 tokens/s; 50 requests per minute; 1-3 % errors); ``time_scale`` shrinks every duration so that a notebook runs
them in seconds (0.05: a simulated minute lasts 3 s). Draws come from
``random.Random(seed)``, so a run is reproducible.

State is plain numbers read with ``time.perf_counter``: no loop-bound objects, so one
instance can serve several ``asynclab.run`` calls, and its checks-and-updates never await
(atomic on the loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any, NamedTuple

from .validate import check_int, check_number

__all__ = ["Call", "Completion", "LLMError", "RateLimited", "ServerError", "SimulatedLLM"]

_Z95 = 1.6448536269514722  # the 95th percentile of the standard normal
_WORDS = (
    "the agent found that a tool call returned results quickly while the model "
    "planned its next step and the answer depends on latency rate limits retries "
    "deadlines and budgets so concurrency helps when work waits"
).split()


class LLMError(Exception):
    """Base class of the simulated endpoint's errors."""


class RateLimited(LLMError):
    """HTTP 429: over the requests-per-minute limit. Retry after ``retry_after`` seconds
    (real, already scaled by ``time_scale``)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"429 Too Many Requests, Retry-After {retry_after:.3f} s")
        self.retry_after = retry_after


class ServerError(LLMError):
    """HTTP 5xx: the model was overloaded; the request may be retried."""


class Completion(NamedTuple):
    text: str
    tokens: int


class Call(NamedTuple):
    """One request as the endpoint saw it: when (ms since the endpoint was made) and how
    it ended: ``"ok"``, ``"429"`` or ``"5xx"``."""

    at_ms: float
    outcome: str


class SimulatedLLM:
    """A simulated chat model::

        llm = SimulatedLLM(seed=0, time_scale=0.05)
        answer = await llm.complete("Summarise ...", max_tokens=32)   # Completion
        async for token in llm.stream("Write ...", max_tokens=32):    # one str per token
            ...

    Both raise ``RateLimited`` (at once) or ``ServerError`` (after the time to first
    token) before producing anything. ``rpm=None`` turns the rate limit off.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        time_scale: float = 0.05,
        ttft_median: float = 0.4,
        ttft_p95: float = 2.0,
        tokens_per_s: float = 60.0,
        tokens_per_s_sd: float = 15.0,
        rpm: float | None = 50.0,
        burst: int = 5,
        error_rate: float = 0.02,
    ) -> None:
        self.seed = check_int("seed", seed, 0, 2**63 - 1)
        self.time_scale = check_number("time_scale", time_scale, 0, 10, lo_open=True)
        self.ttft_median = check_number("ttft_median", ttft_median, 0, 60, lo_open=True)
        self.ttft_p95 = check_number("ttft_p95", ttft_p95, self.ttft_median, 600)
        self.tokens_per_s = check_number("tokens_per_s", tokens_per_s, 0, 10_000, lo_open=True)
        self.tokens_per_s_sd = check_number("tokens_per_s_sd", tokens_per_s_sd, 0, self.tokens_per_s)
        if rpm is not None:
            if isinstance(rpm, bool) or not isinstance(rpm, int | float):
                raise TypeError(f"rpm must be None or a number greater than 0 and at most 1000000, got {rpm!r}")
            rpm = check_number("rpm", rpm, 0, 1_000_000, lo_open=True)
        self.rpm = rpm
        self.burst = check_int("burst", burst, 1, 10_000)
        self.error_rate = check_number("error_rate", error_rate, 0, 1)
        self._rng = random.Random(seed)
        self._sigma = math.log(self.ttft_p95 / self.ttft_median) / _Z95
        self._t0 = perf_counter()
        self._tat = self._t0  # GCRA: the theoretical arrival time of the next request
        self._promised = self._t0  # the last slot promised to a rejected request
        self.calls: list[Call] = []

    def __repr__(self) -> str:
        return (f"SimulatedLLM(seed={self.seed}, time_scale={self.time_scale:g}, "
                f"rpm={self.rpm}, burst={self.burst}, error_rate={self.error_rate:g})")

    # --- what a request costs -------------------------------------------------------
    @property
    def interval(self) -> float:
        """Real seconds between two requests at the sustained limit (0 without a limit)."""
        return 0.0 if self.rpm is None else 60.0 / self.rpm * self.time_scale

    def stats(self) -> dict[str, int]:
        outcomes = [c.outcome for c in self.calls]
        return {"requests": len(outcomes), "ok": outcomes.count("ok"),
                "rate_limited": outcomes.count("429"), "server_errors": outcomes.count("5xx")}

    def _admit(self) -> None:
        """Take a slot under the limit or raise RateLimited. Generic cell rate algorithm:
        ``burst`` requests at once, then one per ``interval``. Each rejected request is
        promised its own later slot in ``retry_after``, so clients that honour it spread
        out instead of coming back together."""
        now = perf_counter()
        if self.rpm is not None:
            tau = (self.burst - 1) * self.interval
            tat = max(self._tat, now)
            if tat - now > tau + 1e-6:
                self._promised = max(self._promised + self.interval, tat - tau)
                self.calls.append(Call((now - self._t0) * 1e3, "429"))
                raise RateLimited(max(0.0, self._promised - now))
            self._tat = tat + self.interval
        fails = self._rng.random() < self.error_rate
        self.calls.append(Call((now - self._t0) * 1e3, "5xx" if fails else "ok"))
        if fails:
            raise ServerError("503 Service Unavailable: the model is overloaded")

    def _draw(self, prompt: str, max_tokens: int) -> tuple[float, float, list[str]]:
        ttft = math.exp(math.log(self.ttft_median) + self._sigma * self._rng.gauss(0, 1))
        tps = max(self.tokens_per_s * 0.1, self._rng.gauss(self.tokens_per_s, self.tokens_per_s_sd))
        start = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")
        words = random.Random(start).choices(_WORDS, k=max_tokens)
        tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        return ttft * self.time_scale, self.time_scale / tps, tokens

    async def _admit_or_fail(self, prompt: str) -> None:
        """Let a request in, or raise its 429 / 5xx (a 5xx only after its time to fail)."""
        await asyncio.sleep(0)
        try:
            self._admit()
        except ServerError:
            await asyncio.sleep(self._draw(prompt, 1)[0])
            raise

    # --- the API ----------------------------------------------------------------------
    async def complete(self, prompt: str, *, max_tokens: int = 32) -> Completion:
        """The whole answer at once, after TTFT + ``max_tokens`` / tokens-per-second."""
        _check_request(prompt, max_tokens)
        await self._admit_or_fail(prompt)
        ttft, per_token, tokens = self._draw(prompt, max_tokens)
        await asyncio.sleep(ttft + per_token * max_tokens)
        return Completion("".join(tokens), max_tokens)

    async def stream(self, prompt: str, *, max_tokens: int = 32) -> AsyncIterator[str]:
        """Tokens one by one, as they are generated (an async generator)."""
        _check_request(prompt, max_tokens)
        await self._admit_or_fail(prompt)
        ttft, per_token, tokens = self._draw(prompt, max_tokens)
        start = perf_counter()
        for i, token in enumerate(tokens):
            # Sleep until this token is due (not a fixed nap), so lateness does not add up.
            due = start + ttft + per_token * (i + 1)
            await asyncio.sleep(max(0.0, due - perf_counter()))
            yield token


def _check_request(prompt: Any, max_tokens: Any) -> None:
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string of 1 to 100000 characters, got {type(prompt).__name__}")
    if not 1 <= len(prompt) <= 100_000:
        raise ValueError(f"prompt must be 1 to 100000 characters, got {len(prompt)}")
    check_int("max_tokens", max_tokens, 1, 100_000)
