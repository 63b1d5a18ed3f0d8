"""asynclab.modelserver against other clients than the notebooks use: curl, httpx, urllib,
a raw socket (every refusal in the provider's JSON shape with an ``x-request-id``, even
for a request the HTTP parser cannot read), the official SDK's options the notebooks do
not use (raw responses, ``stream_options``, ``timeout=``, ``max_retries=``), and clients
that stall or stop reading a stream (others are served; the stop stays prompt)."""

import asyncio
import json
import shutil
import socket
import time
import urllib.error
import urllib.request

import httpx
import openai
import pytest
from asynclab import modelserver
from test_toolserver_clients import assert_quiet, assert_stopped_promptly, curl_text, exchange
from waiting import wait_for

FAST = {"rpm": None, "error_rate": 0.0, "time_scale": 0.01}
SLOW = {"rpm": None, "error_rate": 0.0, "time_scale": 1.0, "ttft_median": 0.01,
        "ttft_p95": 0.02, "tokens_per_s": 2000.0, "tokens_per_s_sd": 0.0,
        "reply_tokens": 100_000}  # a 50 s reply, 2000 tokens a second
STOP_BOUND = modelserver.STOP_GRACE + 1.0  # seconds the stop may take with clients stuck
ERROR_FIELDS = {"message", "type", "param", "code"}


def ask(text: str = "hello") -> list[dict]:
    return [{"role": "user", "content": text}]


def post(server, body: bytes, *, key: bool = True, extra: bytes = b"") -> bytes:
    auth = b"Authorization: Bearer " + server.api_key.encode() + b"\r\n" if key else b""
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth
            + extra + b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def server():
    with modelserver.serve(**FAST) as srv:
        yield srv


# --- refusals: the provider's JSON, whatever the request ----------------------------------

REFUSALS = {  # request (given the server): status, error code
    "an unknown route": (lambda s: b"GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
    "a wrong method": (lambda s: b"DELETE /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 405, None),
    "HTTP/1.0 without a key": (lambda s: b"GET /v1/models HTTP/1.0\r\n\r\n", 401,
                               "missing_api_key"),
    "a body the route does not expect": (
        lambda s: b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-wrong\r\n"
                  b"Content-Length: 3\r\n\r\nabc", 401, "invalid_api_key"),
    "malformed JSON": (lambda s: post(s, b"{bad"), 400, "invalid_json"),
    "a non-UTF-8 body": (lambda s: post(s, b"\xff\xfe\xfd"), 400, "invalid_json"),
    "a huge body": (lambda s: post(s, b"[" + b" " * 2_000_000 + b"]"), 413, "request_too_large"),
    "a huge header": (lambda s: post(s, b"{}", extra=b"X-Big: " + b"a" * 70_000 + b"\r\n"),
                      431, None),
    "300 header lines": (lambda s: post(s, b"{}", extra=b"X: y\r\n" * 300), 431, None),
    "a non-UTF-8 path": (lambda s: b"GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400, None),
    "a garbled request line": (lambda s: b"GARBAGE\r\n\r\n", 400, None),
    "a TLS hello": (lambda s: b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 40, 400,
                    None),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_every_refusal_is_the_providers_json_with_a_request_id(server, case, capfd,
                                                                 caplog):
    request, status, code = REFUSALS[case]
    got, headers, body = exchange(server.port, request(server))
    assert got == status, (got, body)
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == ERROR_FIELDS and error["code"] == code and error["message"], error
    assert error["type"] == "invalid_request_error"
    assert headers.get("x-request-id", "").startswith("req_") or got == 400 and not code
    with openai.OpenAI(base_url=server.base_url, api_key=server.api_key) as llm:
        assert llm.chat.completions.create(model=server.model, messages=ask()).choices
    stats = server.stats()
    assert stats["client_errors"] == 1 and stats["requests"] == 2, stats
    assert_quiet(capfd, caplog)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_gets_completions_streams_and_json_errors(server):
    def curl(*args: str) -> tuple[int, str]:
        return curl_text("-H", f"Authorization: Bearer {server.api_key}", *args)

    chat = json.dumps({"model": server.model, "messages": ask()})
    url = f"{server.base_url}/chat/completions"
    code, body = curl("-H", "Content-Type: application/json", "-d", chat, url)
    assert code == 200 and json.loads(body)["usage"]["completion_tokens"] == 32
    streamed = json.dumps({"model": server.model, "messages": ask(), "stream": True})
    code, body = curl("-N", "--http1.0", "-d", streamed, url)
    assert code == 200 and body.rstrip().endswith("data: [DONE]")
    code, body = curl("-d", "{not json", url)
    assert code == 400 and json.loads(body)["error"]["code"] == "invalid_json"
    code, body = curl("-X", "PUT", url)
    assert code == 405 and set(json.loads(body)["error"]) == ERROR_FIELDS


def test_httpx_and_urllib_get_answers_and_json_errors(server):
    auth = {"Authorization": f"Bearer {server.api_key}"}
    with httpx.Client(base_url=server.base_url, headers=auth, timeout=10) as http:
        assert http.get("/models").json()["data"][0]["id"] == server.model
        assert http.post("/chat/completions", content=b"\xff").json()["error"]["code"] == (
            "invalid_json")
    request = urllib.request.Request(f"{server.base_url}/models/gpt-9", headers=auth)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    error = json.load(refused.value)["error"]
    refused.value.close()
    assert refused.value.code == 404 and error["code"] == "model_not_found"
    assert refused.value.headers["x-request-id"].startswith("req_")


# --- the official SDK's own options -------------------------------------------------------


def test_raw_responses_carry_the_request_id_and_rate_limit_headers():
    with modelserver.serve(rpm=1, error_rate=0.0, time_scale=0.05) as server:
        with openai.OpenAI(base_url=server.base_url, api_key=server.api_key,
                           max_retries=0) as llm:
            raw = llm.chat.completions.with_raw_response.create(model=server.model,
                                                                messages=ask())
            with pytest.raises(openai.RateLimitError) as limited:
                llm.chat.completions.with_raw_response.create(model=server.model,
                                                              messages=ask())
    assert raw.status_code == 200 and raw.headers["x-request-id"] == "req_1"
    assert raw.headers["x-ratelimit-remaining-requests"] == "0"
    assert raw.parse().usage.completion_tokens == 32
    error = limited.value
    assert error.request_id == "req_2" and error.code == "rate_limit_exceeded"
    assert error.type == "requests" and error.param is None  # as the hosted API says
    assert int(error.response.headers["retry-after"]) >= 1
    assert set(error.body) == ERROR_FIELDS


def test_a_stream_with_usage_through_the_streaming_response(server):
    with openai.OpenAI(base_url=server.base_url, api_key=server.api_key) as llm:
        with llm.chat.completions.with_streaming_response.create(
                model=server.model, messages=ask(), stream=True,
                stream_options={"include_usage": True}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = list(response.parse())
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 32
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]).split()


def test_timeout_and_max_retries_are_honoured_and_the_server_sees_each_attempt():
    with modelserver.serve(**SLOW) as server:
        with openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=1,
                           timeout=0.2) as llm:
            start = time.perf_counter()
            with pytest.raises(openai.APITimeoutError):
                llm.chat.completions.create(model=server.model, messages=ask())
            took = time.perf_counter() - start
        assert wait_for(lambda: server.stats()["disconnects"] == 2, timeout=3), server.stats()
        stats = server.stats()
    assert [a.retry for a in stats["attempts"]] == [0, 1]
    assert 0.4 <= took < 3.0, took  # two 0.2 s attempts and the SDK's backoff between them
    assert stats["in_flight"] == 0 and stats["completed"] == 0


# --- clients that stall or stop reading ---------------------------------------------------

STREAM = json.dumps({"model": "asynclab-sim", "messages": ask(), "stream": True}).encode()
STALLS = {
    "sends nothing": lambda s: b"",
    "half a head": lambda s: b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Sl",
    "half a body": lambda s: post(s, STREAM)[:-10],
    "stops reading its stream": lambda s: post(s, STREAM),
}


@pytest.mark.parametrize("case", STALLS)
def test_a_stalled_client_does_not_block_others_or_the_stop(case, capfd, caplog):
    stalled = []
    with modelserver.serve(**SLOW) as server:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(STALLS[case](server))
            stalled.append(sock)
        time.sleep(0.3)  # a stream unread fills the socket's buffers
        with openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0,
                           timeout=5) as llm:
            start = time.perf_counter()
            answer = llm.chat.completions.create(model=server.model, messages=ask(),
                                                 max_tokens=3)
            assert time.perf_counter() - start < 1.0
        assert answer.usage.completion_tokens == 3
        start = time.perf_counter()
    assert server.stats()["in_flight"] == 0
    assert_stopped_promptly(start, stalled, STOP_BOUND, capfd, caplog)


def test_clients_that_disconnect_mid_stream_are_counted_and_others_go_on(capfd, caplog):
    with modelserver.serve(**SLOW) as server:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(post(server, STREAM))
                out = b""
                while b"data: " not in out:
                    out += sock.recv(4096)
        assert wait_for(lambda: server.stats()["disconnects"] == 3, timeout=3), server.stats()
        produced = server.stats()["tokens_generated"]
        time.sleep(0.2)  # 400 more tokens if the generations went on

        async def main():
            async with openai.AsyncOpenAI(base_url=server.base_url,
                                          api_key=server.api_key) as llm:
                return await llm.chat.completions.create(model=server.model, messages=ask(),
                                                         max_tokens=5)

        answer = asyncio.run(main())
        stats = server.stats()
    assert stats["tokens_generated"] == produced + 5 and answer.usage.completion_tokens == 5
    assert_quiet(capfd, caplog)
