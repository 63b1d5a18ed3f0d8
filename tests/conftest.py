"""Shared fixtures: every test must leave no thread, no patch and no pool behind."""

import threading

import asynclab
import pytest
from waiting import wait_for

# Threads a library starts once and keeps for the life of the process (not a leak):
# Dask's idle offload executor, started by the first cluster or check that uses Dask.
PROCESS_LIFETIME_THREADS = ("Dask-Offload",)


@pytest.fixture(autouse=True)
def nothing_leaks():
    before = set(threading.enumerate())
    yield

    def extra() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t not in before and t.is_alive()
                and not t.name.startswith(PROCESS_LIFETIME_THREADS)]

    # Pools shut down with wait=True, so their threads are gone by now; allow a moment for
    # a thread that is already exiting to be reaped.
    assert wait_for(lambda: not extra(), timeout=0.5), f"threads left running: {extra()}"
    assert not asynclab.is_patched(), "the recorder's patch was left installed"


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last: Playwright's sync API keeps an event loop registered in
    the main thread while its session lasts, which would break every later test that
    calls asyncio.run."""
    items.sort(key=lambda item: "tests/browser/" in item.nodeid.replace("\\", "/"))
