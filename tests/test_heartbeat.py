import asyncio
import time

import asynclab
import pytest
from asynclab.heartbeat import heartbeat


def test_an_idle_loop_has_small_lag_and_a_blocked_one_has_the_block():
    async def main():
        async with heartbeat(0.005) as idle:
            await asyncio.sleep(0.1)
        async with heartbeat(0.005) as blocked:
            await asyncio.sleep(0.02)
            time.sleep(0.1)  # blocks the loop: the heartbeat cannot tick
            await asyncio.sleep(0.02)
        return idle, blocked

    idle, blocked = asynclab.run(main())
    assert len(idle.lags_ms) >= 5
    assert blocked.max_lag_ms >= 0.8 * 100
    assert blocked.max_lag_ms > 4 * max(idle.max_lag_ms, 1.0)
    assert len(blocked.times_ms) == len(blocked.lags_ms)


def test_the_heartbeat_task_is_gone_after_the_block():
    async def main():
        async with heartbeat(0.01):
            await asyncio.sleep(0.02)
        return [t.get_name() for t in asyncio.all_tasks()]

    assert "heartbeat" not in asynclab.run(main())


@pytest.mark.parametrize("interval", [0, -1, 2, "x", None])
def test_heartbeat_rejects_bad_intervals(interval):
    async def main():
        async with heartbeat(interval):
            pass

    with pytest.raises((TypeError, ValueError), match="interval"):
        asynclab.run(main())


def test_a_block_that_ends_right_after_blocking_still_measures_the_lag():
    async def main():
        async with heartbeat(0.005) as hb:
            await asyncio.sleep(0.02)
            time.sleep(0.08)  # the block ends while the loop is still catching up
        return hb

    hb = asynclab.run(main())
    assert hb.max_lag_ms >= 0.8 * 80
