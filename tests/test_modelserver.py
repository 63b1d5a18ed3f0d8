"""asynclab.modelserver against the real OpenAI SDK (async and sync clients): completions
plain and streamed, usage, rate limits and the SDK's retries measured on the server's
side, every error mapped to its SDK exception, clients that go away, 200 at once, a stop
with streams in flight, bad knobs. Threads left behind fail any test (conftest.py)."""

import asyncio
import random
import socket
import statistics
import threading
import time
from collections import defaultdict

import httpx
import openai
import psutil
import pytest
from asynclab import modelserver
from asynclab.modelserver_rules import go_duration
from waiting import wait_for

QUIET = {"rpm": None, "error_rate": 0.0}  # no limit, no failures
FAST = {**QUIET, "time_scale": 0.01}  # TTFT median 4 ms, 32 tokens in ~5 ms


def ask(text: str = "what is the capital of France") -> list[dict]:
    return [{"role": "user", "content": text}]


def aclient(server, **options) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key, **options)


def client(server, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=server.api_key, **options)


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def connections_to(port: int) -> list:
    return [c for c in psutil.Process().net_connections("inet")
            if port in (c.laddr.port if c.laddr else None, c.raddr.port if c.raddr else None)]


def assert_refuses(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --- completions ------------------------------------------------------------------------


def test_a_plain_completion_through_the_async_sdk_is_counted_and_deterministic():
    async def main(server):
        async with aclient(server) as llm:
            first = await llm.chat.completions.create(model=server.model, messages=ask())
            again = await llm.chat.completions.create(model=server.model, messages=ask())
            other = await llm.chat.completions.create(model=server.model, messages=ask("hi"))
            return first, again, other

    with modelserver.serve(**FAST, reply_tokens=12) as server:
        first, again, other = asyncio.run(main(server))
        stats = server.stats()
    with modelserver.serve(**FAST, reply_tokens=12, seed=1) as server:
        reseeded = asyncio.run(main(server))[0]
    text = first.choices[0].message.content
    assert first.object == "chat.completion" and first.model == "asynclab-sim"
    assert first.choices[0].finish_reason == "stop" and first.choices[0].message.role == "assistant"
    assert len(text.split()) == 12
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (6, 12, 18)
    assert again.choices[0].message.content == text  # the same request, the same reply
    assert other.choices[0].message.content != text  # another request, another reply
    assert reseeded.choices[0].message.content != text  # another seed, another reply
    assert other.usage.prompt_tokens == 1
    assert stats["completed"] == 3 and stats["requests"] == 3
    assert stats["prompt_tokens"] == 13 and stats["completion_tokens"] == stats["tokens_generated"] == 36
    assert [a.status for a in stats["attempts"]] == [200, 200, 200]
    assert stats["in_flight"] == 0 and stats["disconnects"] == 0


def test_a_streamed_completion_sends_the_same_words_then_usage_when_asked():
    async def main(server):
        async with aclient(server) as llm:
            plain = await llm.chat.completions.create(model=server.model, messages=ask())
            chunks = [chunk async for chunk in await llm.chat.completions.create(
                model=server.model, messages=ask(), stream=True,
                stream_options={"include_usage": True})]
            bare = [chunk async for chunk in await llm.chat.completions.create(
                model=server.model, messages=ask(), stream=True)]
            return plain, chunks, bare

    with modelserver.serve(**FAST) as server:
        plain, chunks, bare = asyncio.run(main(server))
        stats = server.stats()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert len(chunks) == 1 + 32 + 2  # role, one per token, finish, usage
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump(include={
        "prompt_tokens", "completion_tokens", "total_tokens"}) == {
        "prompt_tokens": 6, "completion_tokens": 32, "total_tokens": 38}
    assert all(c.usage is None for c in chunks[:-1])
    assert len(bare) == 1 + 32 + 1 and all(c.choices and c.usage is None for c in bare)
    assert stats["completed"] == 3 and stats["disconnects"] == 0


def test_the_sync_sdk_works_too_and_max_tokens_cuts_the_reply():
    with modelserver.serve(**FAST) as server, client(server) as llm:
        whole = llm.chat.completions.create(model=server.model, messages=ask(), max_tokens=5)
        with llm.chat.completions.create(model=server.model, messages=ask(), stream=True,
                                         max_completion_tokens=5) as stream:
            streamed = "".join(c.choices[0].delta.content or "" for c in stream)
        models = llm.models.list()
        card = llm.models.retrieve(server.model)
    assert len(whole.choices[0].message.content.split()) == 5 == whole.usage.completion_tokens
    assert whole.choices[0].finish_reason == "length"
    assert streamed == whole.choices[0].message.content
    assert [m.id for m in models.data] == [server.model] and card.id == server.model


def test_text_parts_and_several_messages_count_their_words():
    messages = [{"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "one two"},
                                             {"type": "text", "text": "three"}]},
                {"role": "assistant", "content": None},
                {"role": "user", "content": "four"}]
    with modelserver.serve(**FAST) as server, client(server) as llm:
        reply = llm.chat.completions.create(model=server.model, messages=messages, user="agent-7")
        attempt = server.stats()["attempts"][0]
    assert reply.usage.prompt_tokens == 6
    assert attempt.user == "agent-7" and attempt.retry == 0


# --- rate limits and the SDK's retries ------------------------------------------------


def test_a_429_is_retried_by_the_sdk_no_sooner_than_the_advertised_time():
    # Windows of 2 s: the 429 advertises ~1.9 s, far beyond the SDK's own first backoff
    # (at most 0.5 s), so a retry before the advertised time means the header was ignored.
    with modelserver.serve(rpm=1, error_rate=0.0, time_scale=1 / 30, ttft_median=0.1,
                           ttft_p95=0.2) as server, client(server) as llm:
        llm.chat.completions.create(model=server.model, messages=ask())
        retried = llm.chat.completions.create(model=server.model, messages=ask())
        stats = server.stats()
    ok, refused, retry = stats["attempts"]
    assert [(a.status, a.retry) for a in (ok, refused, retry)] == [(200, 0), (429, 0), (200, 1)]
    assert refused.retry_after > 1.0, refused
    late = retry.t - (refused.t + refused.retry_after)
    assert late >= 0, f"the retry came {-late * 1e3:.1f} ms before the advertised time"
    assert late < 0.5, f"the retry came {late:.2f} s after the advertised time"
    assert retry.window == refused.window + 1
    assert retried.choices[0].message.content and stats["rate_limited"] == 1


def test_two_clients_refused_in_one_window_are_told_the_same_reset_time():
    # rpm 1 in windows of 3 s: the first call fills the window, two more are refused
    # 0.3 s apart, without SDK retries.
    with modelserver.serve(rpm=1, error_rate=0.0, time_scale=0.05, ttft_median=0.01,
                           ttft_p95=0.02) as server:
        with client(server) as first:
            first.chat.completions.create(model=server.model, messages=ask())
        errors = []
        for i in range(2):
            with client(server, max_retries=0) as other, pytest.raises(openai.RateLimitError) as caught:
                other.chat.completions.create(model=server.model, messages=ask(), user=f"c{i}")
            errors.append(caught.value)
            time.sleep(0.3)
        attempts = server.stats()["attempts"][1:]
        window_s = server.window_s
    assert [a.status for a in attempts] == [429, 429] and attempts[0].window == attempts[1].window
    resets = [a.t + a.retry_after for a in attempts]
    assert abs(resets[0] - resets[1]) < 0.002, resets  # retry-after-ms is rounded up to 1 ms
    assert abs(resets[0] - (attempts[0].window + 1) * window_s) < 0.002
    for error in errors:
        headers = error.response.headers
        assert error.status_code == 429 and error.type == "requests"
        assert error.code == "rate_limit_exceeded" and "requests per min (RPM): Limit 1" in error.message
        assert headers["x-ratelimit-limit-requests"] == "1"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert int(headers["retry-after"]) >= float(headers["retry-after-ms"]) / 1000
        assert headers["x-ratelimit-reset-requests"].endswith("s")


def test_rate_limit_headers_come_with_every_answer():
    with modelserver.serve(rpm=5, tpm=1000, error_rate=0.0, time_scale=0.05, ttft_median=0.01,
                           ttft_p95=0.02, reply_tokens=4) as server, client(server) as llm:
        raw = llm.chat.completions.with_raw_response.create(model=server.model, messages=ask())
    headers = raw.headers
    assert (headers["x-ratelimit-limit-requests"], headers["x-ratelimit-remaining-requests"]) == ("5", "4")
    assert (headers["x-ratelimit-limit-tokens"], headers["x-ratelimit-remaining-tokens"]) == ("1000", "990")
    assert "retry-after" not in headers and headers["x-request-id"] == "req_1"


def test_a_token_limit_refuses_by_tokens_and_a_request_too_large_is_not_retried():
    with modelserver.serve(rpm=None, tpm=100, error_rate=0.0, time_scale=0.05, ttft_median=0.01,
                           ttft_p95=0.02, reply_tokens=10) as server:
        with client(server, max_retries=0) as llm:
            for _ in range(6):  # 6 words + 10 tokens each: 96 of 100
                llm.chat.completions.create(model=server.model, messages=ask())
            with pytest.raises(openai.RateLimitError) as full:
                llm.chat.completions.create(model=server.model, messages=ask())
        with client(server) as llm, pytest.raises(openai.RateLimitError) as large:
            llm.chat.completions.create(model=server.model, messages=ask("word " * 200))
        statuses = [a.status for a in server.stats()["attempts"]]
    assert full.value.type == "tokens" and full.value.response.headers["x-ratelimit-remaining-tokens"] == "4"
    assert "Request too large" in large.value.message and "retry-after" not in large.value.response.headers
    assert statuses == [200] * 6 + [429, 429]  # the SDK did not retry the one that can never pass


# --- errors ----------------------------------------------------------------------------


def _create(**fields):
    def call(llm, server):
        body = {"model": server.model, "messages": ask(), **fields}
        return llm.chat.completions.create(**body)
    return call


ERRORS = {
    "wrong key": (lambda llm, s: llm.with_options(api_key="sk-wrong").chat.completions.create(
        model=s.model, messages=ask()), openai.AuthenticationError, 401, "invalid_api_key", None),
    "unknown model": (_create(model="gpt-9"), openai.NotFoundError, 404, "model_not_found", "model"),
    "unknown model card": (lambda llm, s: llm.models.retrieve("gpt-9"), openai.NotFoundError, 404,
                           "model_not_found", "model"),
    "messages of the wrong type": (_create(messages="hi"), openai.BadRequestError, 400,
                                   "invalid_type", "messages"),
    "no messages": (lambda llm, s: llm.post("/chat/completions", body={"model": s.model}, cast_to=object),
                    openai.BadRequestError, 400, "missing_required_parameter", "messages"),
    "empty messages": (_create(messages=[]), openai.BadRequestError, 400, "empty_array", "messages"),
    "a bad role": (_create(messages=[{"role": "boss", "content": "x"}]), openai.BadRequestError,
                   400, "invalid_value", "messages[0].role"),
    "content of the wrong type": (_create(messages=[{"role": "user", "content": 7}]),
                                  openai.BadRequestError, 400, "invalid_type", "messages[0].content"),
    "max_tokens 0": (_create(max_tokens=0), openai.BadRequestError, 400,
                     "integer_below_min_value", "max_tokens"),
    "stream_options without stream": (_create(stream_options={"include_usage": True}),
                                      openai.BadRequestError, 400, "invalid_value", "stream_options"),
    "an unknown argument": (_create(extra_body={"tool": 1}), openai.BadRequestError, 400,
                            "unknown_parameter", "tool"),
    "an unknown path": (lambda llm, s: llm.get("/embeddings", cast_to=object), openai.NotFoundError,
                        404, None, None),
    "a wrong method": (lambda llm, s: llm.get("/chat/completions", cast_to=object),
                       openai.APIStatusError, 405, None, None),
}


@pytest.mark.parametrize("case", ERRORS)
def test_bad_input_gets_the_providers_error_and_the_sdks_exception(case):
    call, exception, status, code, param = ERRORS[case]
    with modelserver.serve(**FAST) as server, client(server, max_retries=0) as llm:
        with pytest.raises(exception) as caught:
            call(llm, server)
        answer = llm.chat.completions.create(model=server.model, messages=ask())  # still serving
        stats = server.stats()
    error = caught.value
    assert error.status_code == status and type(error) is exception
    assert (error.code, error.param) == (code, param) and error.type == "invalid_request_error"
    assert error.message.startswith(f"Error code: {status} - ") and len(error.message) > 20
    assert answer.choices[0].message.content
    assert stats["client_errors"] == 1 and stats["completed"] == 1


def test_malformed_bodies_get_json_errors_and_the_server_goes_on(capfd):
    with modelserver.serve(**FAST) as server, httpx.Client(base_url=server.base_url) as http:
        auth = {"authorization": f"Bearer {server.api_key}"}
        answers = [http.post("/chat/completions", content=body, headers=auth) for body in
                   (b"{not json", b"\xff\xfe", b"[1, 2]", b"[" * 100_000, b"x" * (2 * 1024 * 1024))]
        no_key = http.post("/chat/completions", json={"model": server.model, "messages": ask()})
        good = http.post("/chat/completions", json={"model": server.model, "messages": ask()},
                         headers=auth)
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 413]
    assert [a.json()["error"]["code"] for a in answers] == [
        "invalid_json", "invalid_json", "invalid_type", "invalid_json", "request_too_large"]
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "missing_api_key"
    assert good.status_code == 200 and good.json()["usage"]["completion_tokens"] == 32
    assert capfd.readouterr().err == ""


def test_injected_failures_are_500_503_529_and_each_is_an_internal_server_error():
    with modelserver.serve(rpm=None, error_rate=1.0, time_scale=0.01) as server:
        with client(server, max_retries=0) as llm:
            caught = []
            for _ in range(15):
                with pytest.raises(openai.InternalServerError) as error:
                    llm.chat.completions.create(model=server.model, messages=ask())
                caught.append(error.value)
        stats = server.stats()
    assert {e.status_code for e in caught} == {500, 503, 529}
    assert {e.type for e in caught} == {"server_error", "overloaded_error"}
    assert stats["errors"] == 15 and stats["completed"] == 0 and stats["client_errors"] == 0


def test_the_sdk_retries_a_5xx_twice_by_default():
    with modelserver.serve(rpm=None, error_rate=1.0, time_scale=0.01) as server:
        with client(server) as llm, pytest.raises(openai.InternalServerError):
            llm.chat.completions.create(model=server.model, messages=ask())
        attempts = server.stats()["attempts"]
    assert [a.retry for a in attempts] == [0, 1, 2]
    gaps = [b.t - a.t for a, b in zip(attempts, attempts[1:], strict=False)]
    assert 0.375 <= gaps[0] and 0.75 <= gaps[1], gaps  # its backoff: 0.5 s, 1 s, less <= 25 %


# --- clients that go away, many clients, the stop ----------------------------------------

SLOW = {**QUIET, "time_scale": 1.0, "ttft_median": 0.01, "ttft_p95": 0.02,
        "tokens_per_s": 200.0, "tokens_per_s_sd": 0.0, "reply_tokens": 1000}  # 5 s replies


def test_a_dropped_stream_is_noticed_and_its_generation_stops(capfd):
    async def main(server):
        async with aclient(server) as llm:
            stream = await llm.chat.completions.create(model=server.model, messages=ask(), stream=True)
            seen = 0
            async for _ in stream:
                seen += 1
                if seen == 5:
                    break
            await stream.close()

    with modelserver.serve(**SLOW) as server:
        asyncio.run(main(server))
        assert wait_for(lambda: server.stats()["disconnects"] == 1, timeout=2), server.stats()
        produced = server.stats()["tokens_generated"]
        time.sleep(0.3)  # 60 more tokens if it were still generating
        stats = server.stats()
    assert 4 <= produced < 500 and stats["tokens_generated"] == produced, (produced, stats)
    assert stats["in_flight"] == 0 and stats["completed"] == 0
    assert capfd.readouterr().err == ""  # nothing logged: a client going away is normal


def test_a_client_that_leaves_halfway_through_its_body_is_a_disconnect(capfd):
    with modelserver.serve(**FAST) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: Bearer " + server.api_key.encode() +
                         b"\r\nContent-Length: 1000\r\n\r\n{\"model\": ")
            assert wait_for(lambda: server.stats()["in_flight"] == 1, timeout=2)
        assert wait_for(lambda: server.stats()["disconnects"] == 1, timeout=2), server.stats()
        with client(server) as llm:  # and it goes on serving
            assert llm.chat.completions.create(model=server.model, messages=ask()).choices
        stats = server.stats()
    assert stats["in_flight"] == 0 and stats["client_errors"] == 0
    assert capfd.readouterr().err == ""


def test_a_client_that_gives_up_on_a_plain_request_stops_its_generation():
    with modelserver.serve(**SLOW) as server:
        with client(server, max_retries=0, timeout=0.3) as llm, pytest.raises(openai.APITimeoutError):
            llm.chat.completions.create(model=server.model, messages=ask())
        assert wait_for(lambda: server.stats()["disconnects"] == 1, timeout=2), server.stats()
        produced = server.stats()["tokens_generated"]
        time.sleep(0.3)
        stats = server.stats()
    assert 20 <= produced < 500 and stats["tokens_generated"] == produced, (produced, stats)
    assert stats["in_flight"] == 0


def test_200_concurrent_requests_are_served_at_once():
    # Each request takes ~1.6 s; 200 one after another would take 320 s.
    async def main(server):
        async with aclient(server, max_retries=0) as llm:
            async def one(i):
                if i % 2:
                    return (await llm.chat.completions.create(
                        model=server.model, messages=ask(f"q{i}"))).choices[0].message.content
                stream = await llm.chat.completions.create(model=server.model, messages=ask(f"q{i}"),
                                                           stream=True)
                return "".join([c.choices[0].delta.content or "" async for c in stream])

            return await asyncio.gather(*(one(i) for i in range(200)))

    with modelserver.serve(**QUIET, time_scale=1.0, ttft_median=1.5, ttft_p95=2.0,
                           tokens_per_s=100.0, tokens_per_s_sd=0.0, reply_tokens=10) as server:
        start = time.perf_counter()
        texts = asyncio.run(main(server))
        took = time.perf_counter() - start
        stats = server.stats()
    assert all(len(t.split()) == 10 for t in texts)
    assert stats["completed"] == 200 and stats["disconnects"] == 0
    assert stats["peak_in_flight"] >= 100, stats["peak_in_flight"]
    assert took < 32, took  # a tenth of one after another


def test_stopping_with_streams_in_flight_is_quick_and_leaves_nothing():
    before_ports, before_threads = listening_ports(), threading.active_count()
    server = modelserver.serve(**SLOW)

    async def main():
        async with aclient(server) as llm:
            streams = [await llm.chat.completions.create(model=server.model, messages=ask(f"{i}"),
                                                         stream=True) for i in range(20)]
            for stream in streams:
                await stream.__anext__()  # the role chunk: each is being served
            assert server.stats()["in_flight"] == 20
            start = time.perf_counter()
            server.__exit__(None, None, None)  # the with-block ends with 20 streams open
            took = time.perf_counter() - start
            outcomes = []
            for stream in streams:
                try:
                    async for _ in stream:
                        pass
                    outcomes.append("ended")
                except (openai.APIConnectionError, httpx.RemoteProtocolError):  # SDK 3 / older
                    outcomes.append("cut")
            return took, outcomes

    with server:
        took, outcomes = asyncio.run(main())
    stats = server.stats()
    assert took < 1.5, took  # quickly: the streams get 0.25 s (STOP_GRACE), then are cut
    assert outcomes == ["cut"] * 20
    assert stats["in_flight"] == 0 and stats["disconnects"] == 0  # cut by the stop, not gone
    assert stats["tokens_generated"] < 20 * 1000
    assert listening_ports() == before_ports and not connections_to(server.port)
    assert_refuses(server.port)
    assert threading.active_count() == before_threads


@pytest.mark.parametrize("error", [ZeroDivisionError, KeyboardInterrupt])
def test_an_exception_in_the_block_still_stops_the_server(error):
    with pytest.raises(error), modelserver.serve(**FAST) as server:
        with client(server) as llm:
            llm.chat.completions.create(model=server.model, messages=ask())
        raise error
    assert_refuses(server.port)
    assert not connections_to(server.port)


def test_a_server_has_no_address_before_it_starts_and_runs_once():
    server = modelserver.serve(**FAST)
    with pytest.raises(RuntimeError, match="use it in a with-block"):
        server.base_url  # noqa: B018
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert 0 < server.until_next_window() <= server.window_s == 0.6
    with pytest.raises(RuntimeError, match="runs only once"), server:
        pass


BAD_KNOBS = [
    ({"rpm": 0}, ValueError, "rpm must be between 1 and"),
    ({"rpm": 1.5}, TypeError, r"rpm must be None \(no limit\) or an integer"),
    ({"rpm": True}, TypeError, "rpm must be None"),
    ({"tpm": -5}, ValueError, "tpm must be between 1 and"),
    ({"error_rate": 1.5}, ValueError, "error_rate must be at least 0"),
    ({"seed": -1}, ValueError, "seed must be between 0"),
    ({"time_scale": 0}, ValueError, "time_scale must be greater than 0"),
    ({"ttft_median": 1.0, "ttft_p95": 0.5}, ValueError, "ttft_p95 must be at least 1"),
    ({"tokens_per_s": 0}, ValueError, "tokens_per_s must be greater than 0"),
    ({"reply_tokens": 0}, ValueError, "reply_tokens must be between 1 and"),
    ({"model": "my model"}, ValueError, "model must be 1 to 100 letters"),
    ({"api_key": ""}, ValueError, "api_key must be 1 to 200"),
    ({"api_key": None}, TypeError, "api_key must be a string"),
    ({"port": 70000}, ValueError, "port must be between 0 and 65535"),
    ({"rpms": 5}, TypeError, "rpms"),
]


@pytest.mark.parametrize("knobs, error, message", BAD_KNOBS, ids=[str(k) for k, _, _ in BAD_KNOBS])
def test_bad_knobs_are_refused_before_anything_starts(knobs, error, message):
    threads, ports = threading.active_count(), listening_ports()
    with pytest.raises(error, match=message):
        modelserver.serve(**knobs)
    assert threading.active_count() == threads and listening_ports() == ports


def test_durations_are_written_as_the_reset_headers_write_them():
    assert [go_duration(s) for s in (0.0004, 0.25, 1.5, 59.9991, 360.0, 61.25)] == [
        "1ms", "250ms", "1.5s", "1m0s", "6m0s", "1m1.25s"]


# --- measured: retries that multiply, clients that come back together ------------------


def attempts_per_user(stats) -> dict[str, list]:
    by_user = defaultdict(list)
    for attempt in stats["attempts"]:
        by_user[attempt.user].append(attempt)
    return by_user


def test_an_outer_retry_loop_multiplies_the_sdks_retries():
    """6 calls at 1 request per 0.2 s window. The SDK alone makes up to 1 + 2 attempts per
    call; wrapped in 3 outer tries, up to 3 x 3 = 9."""
    async def run(outer_tries):
        with modelserver.serve(rpm=1, error_rate=0.0, time_scale=0.2 / 60, ttft_median=0.01,
                               ttft_p95=0.02, reply_tokens=4) as server:
            async with aclient(server) as llm:
                async def call(i):
                    for _ in range(outer_tries):
                        try:
                            return await llm.chat.completions.create(
                                model=server.model, messages=ask(), user=f"call-{i}")
                        except openai.RateLimitError:
                            pass
                    return None

                await asyncio.sleep(server.until_next_window() + 0.01)  # start with a window
                answers = await asyncio.gather(*(call(i) for i in range(6)))
            return answers, attempts_per_user(server.stats())

    figures = {}
    for outer in (1, 3):
        answers, by_user = asyncio.run(run(outer))
        counts = sorted(len(a) for a in by_user.values())
        figures[outer] = counts
        print(f"\n{outer} outer x (1 + 2 SDK retries): attempts per call {counts}, "
              f"mean {statistics.mean(counts):.1f}, answered {sum(a is not None for a in answers)}/6")
    assert max(figures[1]) == 3 and sum(figures[1]) >= 12  # calls gave up after 3 attempts
    assert max(figures[3]) <= 9 and max(figures[3]) > 3  # the loops multiplied
    assert sum(figures[3]) > sum(figures[1])


def next_windows(stats) -> list[int]:
    """For each 429: how many windows later the same client tried again."""
    later = []
    for attempts in attempts_per_user(stats).values():
        later += [b.window - a.window for a, b in zip(attempts, attempts[1:], strict=False)
                  if a.status == 429]
    return later


def test_clients_that_share_a_reset_time_come_back_together_unless_jittered():
    """20 clients, 4 requests per 0.25 s window, each retrying until answered. Honouring
    the shared reset exactly (as the SDK does) brings every refused client back in the
    very next window, all at once; jitter over several windows spreads them out. On a
    quiet machine (all 20 first requests in one window) the synchronised count is exactly
    16 + 12 + 8 + 4 = 40."""
    n, rpm, window = 20, 4, 0.25

    async def run(spread_windows, sdk=False, seed=0):
        jitter = random.Random(seed)
        with modelserver.serve(rpm=rpm, error_rate=0.0, time_scale=window / 60, ttft_median=0.01,
                               ttft_p95=0.02, reply_tokens=4) as server:
            async with aclient(server, max_retries=20 if sdk else 0) as llm:
                async def call(i):
                    while True:
                        try:
                            return await llm.chat.completions.create(
                                model=server.model, messages=ask(), user=f"c{i}")
                        except openai.RateLimitError as error:
                            wait = float(error.response.headers["retry-after-ms"]) / 1000
                            await asyncio.sleep(wait + jitter.uniform(0, spread_windows * window))

                await asyncio.sleep(server.until_next_window() + 0.01)  # start with a window
                start = time.perf_counter()
                await asyncio.wait_for(asyncio.gather(*(call(i) for i in range(n))), 30)
                took = time.perf_counter() - start
            return server.stats(), took

    rows = {"SDK retries (honour retry-after exactly)": (0, True),
            "own loop, no jitter": (0, False),
            "own loop, jitter up to 1 window": (1, False),
            f"own loop, jitter up to {n // rpm} windows": (n // rpm, False)}
    figures = {}
    for name, (spread, sdk) in rows.items():
        stats, took = asyncio.run(run(spread, sdk))
        later = next_windows(stats)
        figures[name] = stats["rate_limited"], sum(w == 1 for w in later) / len(later)
        print(f"\n{name}: {stats['rate_limited']} x 429 for {n} calls, "
              f"{figures[name][1]:.0%} of retries in the next window, all answered in {took:.2f} s")
    sdk, plain, _, spread = figures.values()
    # Everyone refused comes back together (on a quiet machine 100 %; a loaded one makes
    # a few clients' loops late by a whole window).
    assert sdk[1] >= 0.75 and plain[1] >= 0.75, figures
    assert spread[1] <= 0.6, figures  # jittered: most skip a window or more
    assert spread[0] <= 0.75 * plain[0], figures  # and far fewer are refused
