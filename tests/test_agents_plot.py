import asyncio

import pytest
from asynclab.agents_plot import AGENT_COLORS, STATES, StateLog, plot_agent_states
from asynclab.plotting import COLORS


def test_state_colours_are_new_and_distinct():
    assert set(AGENT_COLORS) == set(STATES)
    assert len(set(AGENT_COLORS.values())) == len(STATES)
    assert not set(AGENT_COLORS.values()) & set(COLORS.values())


def test_state_log_records_spans_and_cancellation():
    log = StateLog()

    async def agent():
        with log.state("a", "tool"):
            await asyncio.sleep(0.01)
        with log.state("a", "streaming"):
            await asyncio.sleep(1)

    async def main():
        task = asyncio.create_task(agent())
        await asyncio.sleep(0.03)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    states = [s.state for s in log.spans]
    assert states == ["tool", "streaming"] and log.agents == ["a"]
    assert 5 <= log.total_ms("tool") <= 500
    assert [m[:2] for m in log.marks] == [("a", "cancelled")]


def test_errors_are_not_marked_failed_unless_said():
    log = StateLog()
    with pytest.raises(RuntimeError), log.state("a", "backoff"):
        raise RuntimeError
    assert log.marks == []
    log.mark("a", "failed")
    assert log.marks[0][:2] == ("a", "failed")


def test_marked_lists_each_agent_once_in_order():
    log = StateLog()
    for agent, outcome in [("b", "cancelled"), ("a", "failed"), ("c", "cancelled"), ("b", "cancelled")]:
        log.mark(agent, outcome)
    assert log.marked("cancelled") == ["b", "c"] and log.marked("failed") == ["a"]
    with pytest.raises(ValueError, match="outcome"):
        log.marked("done")


def test_arguments_are_validated():
    log = StateLog()
    with pytest.raises(ValueError, match="state"), log.state("a", "sleeping"):
        pass
    with pytest.raises(TypeError, match="agent"), log.state("", "tool"):
        pass
    with pytest.raises(ValueError, match="outcome"):
        log.mark("a", "done")
    with pytest.raises(TypeError, match="log"):
        plot_agent_states(object())
    with pytest.raises(ValueError, match="width"):
        plot_agent_states(log, width=1)


def test_plot_has_a_lane_per_agent_and_a_legend():
    log = StateLog()
    for agent, state in (("a", "tool"), ("b", "rate_limit"), ("c", "model")):
        with log.state(agent, state):
            pass
    fig = log.plot(agents=["planner", "a"], title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["planner", "a", "b", "c"]
    assert fig.legends


def test_now_ms_is_on_the_spans_time_axis():
    import time

    log = StateLog()
    with log.state("a", "tool"):
        time.sleep(0.01)
    after = log.now_ms()
    (span,) = log.spans
    assert span.end_ms <= after < span.end_ms + 50, (span, after)
    assert after >= 10
