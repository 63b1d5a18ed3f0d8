"""asynclab.gcpauses: collections noted while the block runs, none after, drawn as a lane."""

import gc

import asynclab
import pytest
from asynclab.gcpauses import GCPauses, gc_pauses


def test_a_forced_collection_is_noted_in_order_and_in_time():
    before = list(gc.callbacks)
    with gc_pauses() as paused:
        gc.collect(0)
        gc.collect()
    assert gc.callbacks == before
    gens = [p.generation for p in paused.pauses]
    assert gens[-2:] == [0, 2], gens
    assert all(0 <= p.start_ms <= p.end_ms for p in paused.pauses)
    assert paused.total_ms == pytest.approx(sum(p.ms for p in paused.pauses))
    assert paused.longest_ms <= paused.total_ms
    assert str(paused).startswith("paused the process for ")
    gc.collect()  # after the block: not noted
    assert len(paused.pauses) == len(gens)


def test_the_callback_is_removed_when_the_block_raises():
    before = list(gc.callbacks)
    with pytest.raises(KeyError), gc_pauses():
        raise KeyError("x")
    assert gc.callbacks == before


def test_add_lane_draws_one_garbage_collector_lane():
    import matplotlib.pyplot as plt

    async def work():
        with asynclab.record() as tl, gc_pauses() as paused:
            gc.collect()
        return tl, paused

    tl, paused = asynclab.run(work())
    fig = tl.plot(title="t")
    lanes = len(fig.axes[0].get_yticklabels())
    paused.add_lane(fig)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == lanes + 1 and labels[-1] == "garbage collector 1"
    assert "loop paused by the garbage collector" in [t.get_text() for t in fig.legends[0].get_texts()]
    plt.close(fig)
    empty = tl.plot(title="t")
    GCPauses().add_lane(empty)  # nothing ran: no lane
    assert len(empty.axes[0].get_yticklabels()) == lanes
    plt.close(empty)

