import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from asynclab import palette
from asynclab.plotting import (
    COLORS,
    add_lanes,
    add_legend,
    draw_markers,
    draw_spans,
    fit_unit,
    hbars,
    key_handle,
    lane_figure,
    new_figure,
    plot_timeline,
)
from asynclab.queueing import queue_depth
from asynclab.records import Span, TimelineData
from asynclab.workloads import JobTiming
from matplotlib.collections import LineCollection
from matplotlib.colors import to_hex
from matplotlib.patches import PathPatch

PACKAGE = Path(__file__).resolve().parent.parent / "helpers" / "asynclab"


def artists(ax, kind):
    return [a for a in ax.get_children() if isinstance(a, kind)]


def test_one_colour_one_meaning_across_every_family():
    everything = list(palette.COLORS.values()) + list(palette.AGENT_COLORS.values()) + list(palette.SERIES)
    assert len({c.lower() for c in everything}) == len(everything)
    assert set(palette.LABELS) == set(palette.COLORS)
    assert set(palette.AGENT_LABELS) == set(palette.AGENT_COLORS)
    assert COLORS is palette.COLORS  # asynclab.plotting.COLORS, as the notebooks import it


def test_the_palette_imports_nothing_of_asynclab():
    tree = ast.parse((PACKAGE / "palette.py").read_text())
    imported = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imported)


@pytest.mark.parametrize("n", [10, 50_000])
def test_draw_spans_makes_one_artist_per_colour_whatever_the_number_of_spans(n):
    rng = np.random.default_rng(0)
    fig, ax = lane_figure(["a", "b", "c"], 1000.0, title="t")
    start = rng.uniform(0, 1000, n)
    keys = np.where(rng.random(n) < 0.5, "running", "tool")
    drawn = draw_spans(ax, rng.integers(0, 3, n), start, start + rng.exponential(1, n), keys)
    assert drawn == ["running", "tool"]  # in palette order, for the legend
    patches = artists(ax, PathPatch)
    assert len(patches) == 2
    assert {to_hex(p.get_facecolor()) for p in patches} == {COLORS["running"].lower(),
                                                              palette.AGENT_COLORS["tool"].lower()}
    assert not artists(ax, LineCollection)  # no edges unless asked


def test_edges_are_one_collection_and_keep_back_to_back_spans_apart():
    fig, ax = lane_figure(["worker 1", "worker 2"], 40.0, title="t")
    draw_spans(ax, [0, 0, 0, 1], [0, 10, 20, 0], [10, 20, 30, 40], "job", edges=True)
    (edges,) = artists(ax, LineCollection)
    xs = sorted((round(float(s[0, 0])), round(float(s[0, 1] + 0.35))) for s in edges.get_segments())
    # lane 0: where the three jobs start and end (shared ends drawn once); lane 1: one job
    assert [x for x, lane in xs if lane == 0] == pytest.approx([0, 10, 20, 30], abs=0.1)
    assert [x for x, lane in xs if lane == 1] == pytest.approx([0, 40], abs=0.1)
    assert len(artists(ax, PathPatch)) == 1  # the bars are still one artist


def test_edges_of_many_spans_stay_one_collection_of_at_most_lanes_times_pixels():
    fig, ax = lane_figure(["w"], 1000.0, title="t")
    start = np.arange(0, 1000, 0.5)
    draw_spans(ax, np.zeros(start.size), start, start + 0.5, "job", edges=True)
    # half-ms jobs are narrower than 3 pixels here: their edges would hide them, so none
    assert not artists(ax, LineCollection)
    start = np.arange(0, 1000, 20.0)
    draw_spans(ax, np.zeros(start.size), start, start + 20, "job", edges=True)
    (edges,) = artists(ax, LineCollection)
    assert len(edges.get_segments()) == start.size + 1


def test_unknown_colour_keys_are_refused_by_name():
    fig, ax = lane_figure(["a"], 10.0, title="t")
    with pytest.raises(ValueError, match="unknown colour key 'purple'; the palette has: running"):
        draw_spans(ax, [0], [0], [1], "purple")
    with pytest.raises(ValueError, match="unknown colour key 'nope'"):
        draw_spans(ax, [0, 0], [0, 2], [1, 3], ["running", "nope"])
    with pytest.raises(ValueError, match="one per span"):
        draw_spans(ax, [0, 0], [0, 2], [1, 3], ["running"])
    with pytest.raises(ValueError, match="same length"):
        draw_spans(ax, [0], [0, 2], [1, 3], "running")
    with pytest.raises(ValueError, match="markers are for failed, cancelled"):
        draw_markers(ax, [0], [1], "running")
    assert not artists(ax, PathPatch)
    assert draw_spans(ax, [], [], [], "running") == []


def test_markers_and_their_legend_entries_share_one_look():
    fig, ax = lane_figure(["a"], 10.0, title="t")
    assert draw_markers(ax, [0], [5], "failed") and not draw_markers(ax, [], [], "cancelled")
    handle = key_handle("cancelled")
    assert handle.get_marker() == "o" and handle.get_markerfacecolor() == "none"
    assert key_handle("failed").get_label() == palette.LABELS["failed"]
    assert key_handle("tool").get_label() == palette.AGENT_LABELS["tool"]


def test_the_legend_has_one_entry_per_colour_even_when_joined():
    fig, ax = new_figure()
    add_legend(fig, [key_handle("job"), key_handle("queued")])
    add_legend(fig, [key_handle("job", "job running in a worker process"), key_handle("failed")])
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == [
        palette.LABELS["job"], palette.LABELS["queued"], palette.LABELS["failed"]]


def test_figures_take_the_house_style_and_leave_rcparams_alone():
    before = dict(matplotlib.rcParams)
    fig, ax = new_figure(6, 2, title="a title")
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert ax.get_title(loc="left") == "a title" and ax.xaxis._major_tick_kw["gridOn"]
    fig, axes = new_figure(6, 2, ncols=2, suptitle="both")
    assert len(axes) == 2 and fig.get_suptitle() == "both"
    assert dict(matplotlib.rcParams) == before
    with pytest.raises(TypeError, match="title must be a string"):
        new_figure(title=3)


def test_hbars_groups_bars_and_writes_their_values():
    fig, ax = new_figure()
    centres = hbars(ax, ["tiny", "big"], {"threads": [0.5, 2.0], "cluster": [None, 30.0]},
                    {"threads": palette.SERIES[0], "cluster": palette.SERIES[1]},
                    fmt="{:.1f} ms", log=True)
    assert [round(y, 2) for y in centres["threads"]] == [-0.2, 0.8] and len(centres["cluster"]) == 1
    assert [t.get_text() for t in ax.texts] == [" 0.5 ms", " 2.0 ms", " 30.0 ms"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["tiny", "big"]
    assert ax.get_xscale() == "log" and ax.get_xlim() == pytest.approx((0.25, 180))
    fig, ax = new_figure()
    hbars(ax, ["a", "b"], {"x": [1, 2]}, {"x": [COLORS["blocked"], COLORS["running"]]}, x_ref=5)
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == [COLORS["blocked"].lower(),
                                                              COLORS["running"].lower()]
    assert ax.get_xlim() == pytest.approx((0, 6))


def pool_recording(jobs_per_thread=4, threads=2):
    n = jobs_per_thread * threads
    start = np.tile(np.arange(jobs_per_thread) * 10.0, threads)  # back to back on each thread
    return TimelineData(
        wall_ms=jobs_per_thread * 10.0, task_names=["main"], created_ms=[0.0], outcomes=["done"],
        step_start=[0.0, 39.9], step_end=[0.1, 40.0], step_lane=[0, 0],
        threads=[f"pool_{k}" for k in range(threads)], job_submit=np.zeros(n), job_start=start,
        job_end=start + 10, job_thread=np.repeat(np.arange(threads), jobs_per_thread))


def test_plot_timeline_marks_where_each_pool_job_starts_and_ends():
    fig = plot_timeline(pool_recording())
    ax = fig.axes[0]
    (edges,) = artists(ax, LineCollection)
    segments = edges.get_segments()
    thread_lanes = {3, 4}  # event loop, main, the queue, then the threads
    assert {round(float(s[:, 1].mean())) for s in segments} == thread_lanes
    assert len(segments) == 2 * 5  # 4 back-to-back jobs on each: 5 edges per thread
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        palette.LABELS[k] for k in ("running", "waiting", "queued", "job")]


def lane_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_yticklabels()]


def test_queued_time_has_a_lane_of_its_own_whose_height_counts_the_waiting_jobs():
    fig = plot_timeline(pool_recording())  # 8 jobs submitted at 0, 2 threads take 2 at a time
    assert lane_labels(fig) == ["event loop", "main", "jobs waiting for a thread (up to 6)",
                                "thread pool_0", "thread pool_1"]
    (queue,) = [c for c in fig.axes[0].collections if not isinstance(c, LineCollection)]
    assert to_hex(queue.get_facecolor()[0]) == COLORS["queued"].lower()
    (path,) = queue.get_paths()
    ys = np.linspace(1.6, 2.4, 801)
    top = {}  # the queue's height (lane units) in the middle of each 10 ms round
    for x in (5, 15, 25, 35):
        inside = path.contains_points(np.column_stack([np.full(ys.size, x), ys]))
        top[x] = round(2.35 - float(ys[inside].min()), 3) if inside.any() else 0
    # 6 wait, then 4, 2, 0: drawn 0.7, 0.47, 0.23 and 0 of the lane high
    assert [top[x] for x in (5, 15, 25, 35)] == pytest.approx([0.7, 0.7 * 4 / 6, 0.7 * 2 / 6, 0],
                                                              abs=2e-3)
    # no queue lane when no job waited long enough to see (under 1% of the figure)
    quiet = pool_recording(jobs_per_thread=1)
    assert "jobs waiting" not in " ".join(lane_labels(plot_timeline(quiet)))
    assert "queued" not in [t.get_text() for t in plot_timeline(quiet).legends[0].get_texts()]


def test_queue_depth_counts_the_jobs_between_submit_and_start():
    t, n = queue_depth([0, 0, 0, 5], [0, 10, 20, 20])
    # job 1 starts the moment it is submitted: it never counts; jobs 2 and 3 wait, job 4 too
    assert list(zip(t.tolist(), n.tolist(), strict=True)) == [(0, 2), (5, 3), (10, 2), (20, 0)]
    t, n = queue_depth([], [])
    assert t.size == n.size == 0
    with pytest.raises(ValueError, match="one entry per job"):
        queue_depth([0], [1, 2])
    with pytest.raises(ValueError, match="cannot start before"):
        queue_depth([5], [1])


@pytest.mark.parametrize(("wall", "unit", "tick"), [(0.8, "µs", "200"), (40.0, "ms", "10")])
def test_time_axis_in_a_unit_that_fits(wall, unit, tick):
    tl = TimelineData(wall_ms=wall, task_names=["main"], created_ms=[0.0], outcomes=["done"],
                      step_start=[0.0], step_end=[wall / 2], step_lane=[0], threads=[],
                      job_submit=[], job_start=[], job_end=[], job_thread=[])
    fig = plot_timeline(tl)
    ax = fig.axes[0]
    assert ax.get_xlabel() == f"time since the recording started ({unit})"
    fig.canvas.draw()
    assert tick in [t.get_text() for t in ax.get_xticklabels()]
    assert ax.get_xlim()[1] == pytest.approx(wall * 1.01)  # the data stay in ms
    fig, ax = lane_figure(["a"], 3.0, title="t")
    assert fit_unit(ax) == "µs" and fit_unit(lane_figure(["a"], 30.0, title="t")[1]) == "ms"


def test_add_lanes_draws_spans_on_new_lanes_with_edges():
    fig = plot_timeline(pool_recording())
    before = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    jobs = [JobTiming("p2", 5_000_000, 9_000_000, 0), JobTiming("p1", 0, 4_000_000, 0),
            JobTiming("p1", 4_000_000, 8_000_000, 0)]
    add_lanes(fig, [j.span(0) for j in jobs], lane_label="process", legend_label="in a process")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == before + ["process 1", "process 2"]
    assert len(artists(ax, LineCollection)) == 2  # the threads' edges, then the processes'
    assert "in a process" not in [t.get_text() for t in fig.legends[0].get_texts()]  # same colour
    with pytest.raises(TypeError, match="list of asynclab.records.Span"):
        add_lanes(fig, [(0, 1)], lane_label="x", legend_label="x")


def test_one_span_type_in_ms_with_the_names_each_use_reads():
    job = JobTiming("process 7", 2_000_000, 5_000_000, 2_500_000).span(1_000_000)
    assert job == Span("process 7", 1.0, 4.0, "job") and job.worker == "process 7"
    state = Span("planner", 0.0, 1.5, "tool")
    assert (state.agent, state.state, state.key) == ("planner", "tool", "")
