"""asynclab.mcp_tools: the research desk's tools on a local MCP server, called through the
official SDK's ClientSession over streamable HTTP, as notebook 08 calls them."""

import asyncio
import contextlib
import errno
import glob
import hashlib
import logging
import math
import os
import socket
import tempfile
import threading
import time

import psutil
import pytest
from asynclab import mcp_tools
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client
from waiting import wait_for

CAPSTONE_QUERY = "select agent, avg(latency_ms) from calls group by agent"


@contextlib.asynccontextmanager
async def session(url: str):
    async with streamable_http_client(url) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            yield s


def run(coro, timeout: float = 30.0):
    """asyncio.run, bounded: a test that would hang fails instead."""
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(bounded())


async def timed(coro) -> tuple[float, object]:
    start = time.perf_counter()
    result = await coro
    return time.perf_counter() - start, result


def listening_ports() -> set[int]:
    return {c.laddr.port for c in psutil.Process().net_connections("inet")
            if c.status == psutil.CONN_LISTEN}


def temp_databases() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "asynclab-mcp-*")))


@pytest.fixture(autouse=True)
def own_temp_dir(tmp_path, monkeypatch):
    """Each test's databases in its own directory, so other runs' files never count."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def assert_refuses(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.fixture
def desk():
    with mcp_tools.serve(latency=0.0, legacy_latency=0.0) as server:
        yield server


# --- listing and answering -------------------------------------------------------------


def test_it_lists_the_four_tools_with_their_input_schemas(desk):
    async def main():
        async with session(desk.url) as s:
            return {t.name: t for t in (await s.list_tools()).tools}

    tools = run(main())
    assert sorted(tools) == sorted(mcp_tools.TOOLS)
    schemas = {name: tool.input_schema for name, tool in tools.items()}
    assert schemas["search"]["required"] == ["query"]
    assert schemas["search"]["properties"]["query"]["type"] == "string"
    assert schemas["search"]["properties"]["n"] == {"default": 3, "title": "N", "type": "integer"}
    for name, arg in [("fetch_page", "url"), ("query_db", "sql"), ("legacy_report", "topic")]:
        assert schemas[name]["required"] == [arg], name
        assert schemas[name]["properties"][arg]["type"] == "string", name
    for name, tool in tools.items():
        assert tool.description == mcp_tools.DESCRIPTIONS[name]


def test_each_tool_answers_deterministically(desk):
    async def main():
        async with session(desk.url) as s:
            hits = await s.call_tool("search", {"query": "async agents", "n": 2})
            again = await s.call_tool("search", {"query": "async agents", "n": 2})
            url = hits.structured_content["results"][1]["url"]
            pages = [await s.call_tool("fetch_page", {"url": u}) for u in (url, url, "3")]
            rows = await s.call_tool("query_db", {"sql": CAPSTONE_QUERY})
            report = await s.call_tool("legacy_report", {"topic": "exchange rates"})
            return hits, again, pages, rows, report

    hits, again, pages, rows, report = run(main())
    assert not any(r.is_error for r in [hits, again, *pages, rows, report])
    assert hits.structured_content == again.structured_content == {
        "query": "async agents",
        "results": [{"title": "async agents: result 1", "url": "https://example.org/async-agents/1"},
                    {"title": "async agents: result 2", "url": "https://example.org/async-agents/2"}]}
    assert mcp_tools.text(pages[0]) == mcp_tools.text(pages[1])
    assert mcp_tools.text(pages[0]).startswith("async-agents/2. ")
    assert mcp_tools.text(pages[2]).startswith("Page 3. ")
    assert rows.structured_content["columns"] == ["agent", "avg(latency_ms)"]
    assert sorted(r[0] for r in rows.structured_content["rows"]) == [
        "analyst", "planner", "researcher", "writer"]
    assert rows.structured_content["truncated"] is False
    assert mcp_tools.text(report).startswith("Legacy report on 'exchange rates': ")


def test_text_joins_the_text_blocks_and_refuses_anything_else(desk):
    async def main():
        async with session(desk.url) as s:
            return await s.call_tool("fetch_page", {"url": "7"})

    result = run(main())
    assert mcp_tools.text(result) == result.content[0].text and len(result.content) == 1
    with pytest.raises(TypeError, match="result must be a CallToolResult"):
        mcp_tools.text("Page 7.")


# --- concurrency: calls over one session overlap; the sync tool stays off the loop -------


def test_calls_over_one_session_overlap():
    n, latency = 8, 0.2

    async def main(desk):
        async with session(desk.url) as s:
            await s.call_tool("search", {"query": "warm up"})
            desk.reset_stats()
            ones, walls, peaks = [], [], []
            for _ in range(3):  # best of 3: a busy machine can only add time
                ones.append((await timed(s.call_tool("search", {"query": "one"})))[0])
                desk.reset_stats()
                wall, results = await timed(asyncio.gather(
                    *(s.call_tool("search", {"query": f"q{i}"}) for i in range(n))))
                walls.append(wall)
                peaks.append(desk.stats()["peak_in_flight"])
            return min(ones), min(walls), peaks, results

    with mcp_tools.serve(latency=latency) as desk:
        one, wall, peaks, results = run(main(desk))
        stats = desk.stats()
    assert not any(r.is_error for r in results)
    assert [r.structured_content["query"] for r in results] == [f"q{i}" for i in range(n)]
    # 1x, not Nx: the waits overlap; only each call's own cost (one call's time beyond its
    # latency, measured here: client and server share this process's CPU) adds up.
    cost = one - latency
    assert one >= latency and wall < 1.5 * latency + n * cost, (one, wall)
    assert max(peaks) == n, peaks  # all n were running on the server at once
    assert stats["calls"]["search"] == n and stats["in_flight"] == 0


@pytest.mark.parametrize("offload", [True, False])
def test_the_legacy_tool_blocks_a_worker_thread_not_the_servers_loop(offload):
    legacy = 0.6

    async def main(desk):
        async with session(desk.url) as s:
            slow = asyncio.create_task(s.call_tool("legacy_report", {"topic": "fx"}))
            assert await asyncio.to_thread(wait_for, lambda: desk.stats()["in_flight"] == 1)
            fast, result = await timed(s.call_tool("fetch_page", {"url": "1"}))
            return fast, result, await slow

    with mcp_tools.serve(latency=0.0, legacy_latency=legacy, offload=offload) as desk:
        fast, result, report = run(main(desk))
    assert not result.is_error and not report.is_error
    if offload:  # the other call is answered while the legacy tool sleeps in its thread
        assert fast < legacy / 4, fast
    else:  # the mistake: the blocked loop answers nothing until the legacy tool returns
        assert fast > legacy / 2, fast


def test_a_client_deadline_cancels_the_calls_on_the_server_and_the_session_stays_usable():
    async def main(desk):
        async with session(desk.url) as s:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await asyncio.gather(
                        *(s.call_tool("legacy_report", {"topic": f"t{i}"}) for i in range(3)))
            cut = await asyncio.to_thread(wait_for, lambda: desk.stats()["in_flight"] == 0)
            return cut, await s.call_tool("fetch_page", {"url": "1"})

    with mcp_tools.serve(latency=0.0, legacy_latency=10) as desk:
        took, (cut, after) = run(timed(main(desk)))
        stats = desk.stats()
    assert cut, stats  # the client's cancellation reached the server within 5 s
    assert took < 5, took
    assert stats["calls"] == {"search": 0, "fetch_page": 1, "query_db": 0, "legacy_report": 3}
    assert stats["errors"] == dict.fromkeys(mcp_tools.TOOLS, 0)  # cancelled, not failed
    assert not after.is_error


# --- errors: a tool error, bad arguments, refused SQL; the session stays usable ----------


def test_a_tool_error_comes_back_as_is_error_and_the_session_stays_usable():
    async def main(desk):
        async with session(desk.url) as s:
            bad = await s.call_tool("fetch_page", {"url": "https://elsewhere.example/x"})
            good = await s.call_tool("fetch_page", {"url": "2"})
            return bad, good

    with mcp_tools.serve(latency=0.0) as desk:
        bad, good = run(main(desk))
        stats = desk.stats()
    assert bad.is_error and "no page at 'https://elsewhere.example/x'" in mcp_tools.text(bad)
    assert not good.is_error and mcp_tools.text(good).startswith("Page 2. ")
    assert stats["calls"]["fetch_page"] == 2 and stats["errors"]["fetch_page"] == 1


BAD_CALLS = [
    ("search", {}, "query\n  Field required"),
    ("search", {"query": 5}, "query\n  Input should be a valid string"),
    ("search", {"query": "x", "n": "many"}, "n\n  Input should be a valid integer"),
    ("search", {"query": "x", "n": 11}, "n must be between 1 and 10, got 11"),
    ("search", {"query": "   "}, "query must be 1 to 200 characters"),
    ("fetch_page", {"url": ["1"]}, "url\n  Input should be a valid string"),
    ("legacy_report", {}, "topic\n  Field required"),
    ("no_such_tool", {}, "Unknown tool: no_such_tool"),
]


@pytest.mark.parametrize("tool, arguments, message", BAD_CALLS,
                         ids=[f"{t}-{a}" for t, a, _ in BAD_CALLS])
def test_bad_arguments_get_an_error_result_and_the_server_survives(desk, tool, arguments,
                                                                     message):
    async def main():
        async with session(desk.url) as s:
            try:
                bad = await s.call_tool(tool, arguments)
            except MCPError as exc:  # the SDK may answer with a protocol error instead
                bad = exc
            return bad, await s.call_tool("search", {"query": "still here"})

    bad, after = run(main())
    text = str(bad) if isinstance(bad, MCPError) else mcp_tools.text(bad)
    assert isinstance(bad, MCPError) or bad.is_error, bad
    assert message in text, text
    assert not after.is_error


REFUSED_SQL = [
    ("delete from calls", "runs one read-only SELECT"),
    ("  DROP TABLE calls", "runs one read-only SELECT"),
    ("", "runs one read-only SELECT"),
    ("with gone as (select 1) delete from calls", "not authorized"),
    ("select 1; delete from calls", "one statement at a time"),
    ("select * from pragma_table_info('calls')", "not authorized"),
    ("select load_extension('evil')", "not authorized"),
    ("select * from no_such_table", "no such table"),
]


@pytest.mark.parametrize("sql, message", REFUSED_SQL, ids=[s for s, _ in REFUSED_SQL])
def test_query_db_refuses_anything_but_one_select_and_the_database_is_unchanged(
        desk, sql, message):
    def digest() -> str:
        with open(desk.database, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    async def main():
        async with session(desk.url) as s:
            refused = await s.call_tool("query_db", {"sql": sql})
            count = await s.call_tool("query_db", {"sql": "select count(*) from calls"})
            return refused, count

    before = digest()
    refused, count = run(main())
    assert refused.is_error and message in mcp_tools.text(refused), mcp_tools.text(refused)
    assert count.structured_content["rows"] == [[200]]
    assert digest() == before


def test_query_db_stops_a_runaway_query_and_caps_the_rows(monkeypatch):
    monkeypatch.setattr(mcp_tools, "DB_TIMEOUT", 0.3)
    forever = ("select count(*) from (with recursive c(x) as (select 1 union all "
               "select x + 1 from c) select x from c)")

    async def main(desk):
        async with session(desk.url) as s:
            took, runaway = await timed(s.call_tool("query_db", {"sql": forever}))
            many = await s.call_tool("query_db", {"sql": "select * from calls a, calls b"})
            return took, runaway, many

    with mcp_tools.serve(latency=0.0) as desk:
        took, runaway, many = run(main(desk))
    assert runaway.is_error and "stopped the query after 0.3 s" in mcp_tools.text(runaway)
    assert took < 3.0, took
    assert len(many.structured_content["rows"]) == mcp_tools.MAX_ROWS
    assert many.structured_content["truncated"] is True


# --- stopping and leaks ----------------------------------------------------------------


def test_stopping_with_calls_in_flight_is_prompt_and_every_call_is_answered(caplog):
    caplog.set_level(logging.WARNING)
    forever = ("select count(*) from (with recursive c(x) as (select 1 union all "
               "select x + 1 from c) select x from c)")
    calls = [("search", {"query": "a"})] * 3 + [("legacy_report", {"topic": "t"})] * 2 + [
        ("query_db", {"sql": forever})]
    ports, databases = listening_ports(), temp_databases()
    stack = contextlib.ExitStack()
    desk = stack.enter_context(mcp_tools.serve(latency=10, legacy_latency=10))
    port, database = desk.port, desk.database

    async def main():
        async with session(desk.url) as s:
            pending = [asyncio.create_task(s.call_tool(t, a)) for t, a in calls]
            assert await asyncio.to_thread(
                wait_for, lambda: desk.stats()["in_flight"] == len(calls))
            stop, _ = await timed(asyncio.to_thread(stack.close))
            async with asyncio.timeout(5):
                answers = await asyncio.gather(*pending, return_exceptions=True)
            return stop, answers

    try:
        stop, answers = run(main())
    finally:
        stack.close()
    assert stop < mcp_tools.STOP_GRACE + 2.0, stop
    for answer in answers:  # each ended at once, with a tool error the client could read
        assert not isinstance(answer, BaseException), answer
        assert answer.is_error and "the server is stopping" in mcp_tools.text(answer)
    assert listening_ports() == ports and temp_databases() == databases
    assert not os.path.exists(database)
    assert_refuses(port)
    server_logs = [r for r in caplog.records if r.name.startswith(("mcp.server", "uvicorn"))]
    assert not server_logs, [r.getMessage() for r in server_logs]


@pytest.mark.parametrize("error", [KeyboardInterrupt, ValueError])
def test_nothing_is_left_behind_also_when_the_block_raises(error, monkeypatch):
    ports, databases = listening_ports(), temp_databases()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # as in a plain script: basicConfig would act
    handlers, level = root.handlers[:], root.level
    with pytest.raises(error):
        with mcp_tools.serve() as desk:
            assert os.path.dirname(desk.database) == tempfile.gettempdir()
            assert os.path.exists(desk.database)
            assert listening_ports() - ports == {desk.port}
            port, database = desk.port, desk.database
            raise error
    assert listening_ports() == ports and temp_databases() == databases
    assert not os.path.exists(database) and desk.database is None
    assert_refuses(port)
    assert root.handlers == handlers and root.level == level  # the SDK's basicConfig undone


def test_it_runs_once_and_has_no_url_before_its_block():
    server = mcp_tools.serve()
    with pytest.raises(RuntimeError, match="use it in a with-block"):
        _ = server.url
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}/mcp"
        assert repr(server).startswith(f"<DeskServer {server.url} running")
    with pytest.raises(RuntimeError, match="runs only once"):
        server.__enter__()
    assert server.url.endswith("/mcp") and repr(server).startswith("<DeskServer stopped")
    assert_refuses(server.port)  # the address it had, where nothing listens any more


def test_a_port_in_use_is_reported_and_nothing_is_left(desk):
    databases = temp_databases()
    with pytest.raises(OSError) as refused:
        with mcp_tools.serve(port=desk.port):
            pass
    assert refused.value.errno == errno.EADDRINUSE
    assert temp_databases() == databases


BAD_KNOBS = [
    ({"latency": -0.1}, ValueError, "latency must be at least 0"),
    ({"latency": "0.1"}, TypeError, "latency must be a number"),
    ({"latency": math.nan}, ValueError, "latency must be at least 0"),
    ({"latency": 11}, ValueError, "latency must be at least 0 and at most 10"),
    ({"legacy_latency": math.inf}, ValueError, "legacy_latency must be at least 0"),
    ({"legacy_latency": None}, TypeError, "legacy_latency must be a number"),
    ({"offload": "yes"}, TypeError, "offload must be True or False"),
    ({"port": 70000}, ValueError, "port must be between 0 and 65535"),
    ({"port": 1.5}, TypeError, "port must be an integer"),
]


@pytest.mark.parametrize("knobs, error, message", BAD_KNOBS, ids=[str(k) for k, _, _ in BAD_KNOBS])
def test_bad_knobs_are_refused_before_anything_starts(knobs, error, message):
    threads, ports, databases = threading.active_count(), listening_ports(), temp_databases()
    with pytest.raises(error, match=message):
        mcp_tools.serve(**knobs)
    assert threading.active_count() == threads and listening_ports() == ports
    assert temp_databases() == databases


def test_serve_takes_keyword_arguments_only():
    with pytest.raises(TypeError):
        mcp_tools.serve(0.1)
