"""``make bench``: the instruments' costs and fidelity, as a table with the goals beside them.

    .venv/bin/python bench/run.py              # everything; writes bench/results.md
    .venv/bin/python bench/run.py --quick      # tiny sizes (the smoke test's run)
    .venv/bin/python bench/run.py --only drawing

Sections: recorder, pool, drawing, memory, fidelity, notebooks. ``--only recorder --only
pool --only memory`` measures the recorder's costs alone (about a minute). Each row says what was
measured, the value, the goal and "pass", "miss", "info" (no goal) or "skip".
Timings are minima over interleaved repetitions: other programs can only slow a run down.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "helpers"))

SECTIONS = ("recorder", "pool", "drawing", "memory", "fidelity", "notebooks")


@dataclass
class Row:
    section: str
    name: str
    value: str
    goal: str
    result: str  # pass, miss, info, skip


def verdict(ok: bool) -> str:
    return "pass" if ok else "miss"


@dataclass
class Sizes:
    tasks: int
    yields: int
    reps: int
    pool_jobs: int
    pool_reps: int
    spans: tuple[int, ...]  # nominal sizes (the row names)
    span_scale: float  # actual spans = nominal * scale
    draw_reps: int
    barh_max: int
    mem_reps: int
    fid_runs: int
    sweep_sizes: list[int] | None  # None: notebook 06's own
    sweep_jobs: int | None


FULL = Sizes(tasks=10_000, yields=10, reps=11, pool_jobs=20_000, pool_reps=11,
             spans=(1_000, 10_000, 100_000, 1_000_000), span_scale=1.0, draw_reps=3,
             barh_max=1_000_000, mem_reps=2, fid_runs=3, sweep_sizes=None, sweep_jobs=None)
QUICK = Sizes(tasks=200, yields=10, reps=2, pool_jobs=500, pool_reps=2,
              spans=(1_000, 10_000, 100_000, 1_000_000), span_scale=0.001, draw_reps=1,
              barh_max=1_000_000, mem_reps=1, fid_runs=1, sweep_sizes=[1, 4], sweep_jobs=8)


def human(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k" if n >= 1000 else str(n)


# -- sections -------------------------------------------------------------------------------


def section_recorder(sz: Sizes, notes: list[str]) -> list[Row]:
    import overhead

    r = overhead.recorder_overhead(sz.tasks, sz.yields, sz.reps)
    work = f"{sz.tasks:,} tasks x {sz.yields} sleep(0), {r['steps']:,} steps"
    rows = [Row("recorder", f"plain step ({work})", f"{r['plain_us']:.2f} us", "-", "info")]
    rec = r["record"]
    rows.append(Row("recorder", "record(): extra per step",
                    f"{rec['extra_us']:+.2f} us (x{rec['ratio']:.2f}; paired median "
                    f"{rec['paired_extra_us']:+.2f})", "< 0.5 us", verdict(rec["extra_us"] < 0.5)))
    xr = r["record(xray=True)"]
    rows.append(Row("recorder", "record(xray=True): extra per step (ready queue + timers noted)",
                    f"{xr['extra_us']:+.2f} us (x{xr['ratio']:.2f}; paired median "
                    f"{xr['paired_extra_us']:+.2f})", "-", "info"))
    if r["has_viztracer"]:
        viz = r["viztracer"]
        times = viz["extra_us"] / rec["extra_us"] if rec["extra_us"] > 0 else math.inf
        rows.append(Row("recorder", "viztracer log_async=True: extra per step",
                        f"{viz['extra_us']:+.2f} us (x{viz['ratio']:.2f})", "-", "info"))
        rows.append(Row("recorder", "record() cheaper than viztracer by",
                        f"{times:.1f}x", ">= 5x", verdict(times >= 5)))
    else:
        rows.append(Row("recorder", "viztracer log_async=True: extra per step",
                        "not installed (pip install -e '.[bench]')", "-", "skip"))
        rows.append(Row("recorder", "record() cheaper than viztracer by", "-", ">= 5x", "skip"))
    if r["has_monitoring"]:
        mon = r["sys.monitoring"]
        rows.append(Row("recorder", "sys.monitoring recorder: extra per step",
                        f"{mon['extra_us']:+.2f} us (x{mon['ratio']:.2f})", "-", "info"))
    else:
        rows.append(Row("recorder", "sys.monitoring recorder: extra per step",
                        f"needs Python 3.12+ (this is {platform.python_version()})", "-", "skip"))
    same = r["order_same"]
    rows.append(Row("recorder", "step order, plain vs record() (logged per step)",
                    f"{'identical' if same['record'] else 'DIFFERENT'} over {r['order_steps']:,} steps",
                    "identical", verdict(same["record"])))
    xsame = same["record(xray=True)"]
    rows.append(Row("recorder", "step order, plain vs record(xray=True)",
                    f"{'identical' if xsame else 'DIFFERENT'} over {r['order_steps']:,} steps",
                    "identical", verdict(xsame)))
    others = ", ".join(f"{k}: {'identical' if v else 'different'}" for k, v in same.items()
                       if not k.startswith("record"))
    if others:
        notes.append(f"Step order under the other tracers: {others}.")
    return rows


def section_pool(sz: Sizes, notes: list[str]) -> list[Row]:
    import overhead

    r = overhead.pool_overhead(sz.pool_jobs, sz.pool_reps)
    ok = r["recorded_jobs"] == r["jobs"]
    return [
        Row("pool", f"plain ThreadPoolExecutor({r['workers']}) job ({r['jobs']:,} no-op jobs)",
            f"{r['plain_us']:.2f} us", "-", "info"),
        Row("pool", "traced_pool in record(): extra per job",
            f"{r['extra_us']:+.2f} us (paired median {r['paired_extra_us']:+.2f}); "
            f"{r['recorded_jobs']:,} jobs recorded", "< 3 us",
            verdict(r["extra_us"] < 3 and ok)),
    ]


def section_drawing(sz: Sizes, notes: list[str]) -> list[Row]:
    import drawing

    actual = [max(10, int(n * sz.span_scale)) for n in sz.spans]
    res = drawing.drawing_times(actual, sz.draw_reps, int(sz.barh_max * sz.span_scale))
    rows = []
    for nominal, r in zip(sz.spans, res, strict=True):
        size = "" if r["spans"] == nominal else f" [quick: {r['spans']:,} spans]"
        goal, result = ("< 0.2 s", verdict(r["plot_s"] < 0.2)) if nominal == 100_000 else ("-", "info")
        rows.append(Row("drawing", f"tl.plot() + PNG, {human(nominal)} spans",
                        f"{r['plot_s']:.3f} s{size}", goal, result))
        barh = "not run" if r["broken_barh_s"] is None else f"{r['broken_barh_s']:.3f} s{size}"
        rows.append(Row("drawing", f"broken_barh + PNG, {human(nominal)} spans", barh, "-", "info"))
    notes.append("Drawing: synthetic timelines shaped like a recording of tasks taking turns "
                 "(steps of 1-3 us, spans/10 tasks up to 10,000, grouped into 30 lanes); "
                 "plot() draws each step on its task lane and on the event-loop lane.")
    return rows


def section_memory(sz: Sizes, notes: list[str]) -> list[Row]:
    import overhead

    r = overhead.memory_per_step(sz.tasks, sz.yields, sz.mem_reps)
    return [
        Row("memory", f"peak bytes per recorded step ({r['steps']:,} steps, tracemalloc)",
            f"{r['peak_per_step']:.1f} B", "<= 32 B", verdict(r["peak_per_step"] <= 32)),
        Row("memory", "kept per step while the Timeline is held",
            f"{r['kept_per_step']:.1f} B", "-", "info"),
    ]


def section_fidelity(sz: Sizes, notes: list[str]) -> list[Row]:
    import fidelity

    rows = []
    default = (5, 100, 3)
    scan = [default, (50, 100, 3), (500, 100, 3), (5000, 100, 3), (5, 100, 30), (5, 100, 300)]
    if sz is QUICK:
        scan = [default, (50, 100, 3), (5, 100, 30)]
    pts = fidelity.gather_points(scan, sz.fid_runs)
    for p in pts:
        cfg = (p["tasks"], p["latency_ms"], p["awaits"])
        name = f"gather: {p['tasks']} tasks, {p['latency_ms']} ms, {p['awaits']} awaits"
        if cfg == default:
            rows.append(Row("fidelity", name + " (nb 01 defaults)", f"{p['efficiency']:.2f}",
                            ">= 0.9", verdict(p["efficiency"] >= 0.9)))
        else:
            rows.append(Row("fidelity", name, f"{p['efficiency']:.2f}", "-", "info"))
    jobs, job_s, sizes = fidelity.notebook06_defaults()
    if sz.sweep_sizes is not None:
        jobs, sizes = sz.sweep_jobs, sz.sweep_sizes
    sweep = fidelity.pool_sweep(jobs, job_s, sizes, sz.fid_runs)
    for p in sweep:
        applies = p["waves"] >= 4
        name = (f"pool sweep: {jobs} jobs x {job_s * 1e3:.0f} ms, {p['workers']} workers "
                f"({p['waves']} waves)")
        value = f"{p['efficiency']:.2f} (wall {p['wall_ms']:.1f} / ideal {p['ideal_ms']:.0f} ms)"
        if applies:
            rows.append(Row("fidelity", name, value, ">= 0.9", verdict(p["efficiency"] >= 0.9)))
        else:
            rows.append(Row("fidelity", name, value, "- (< 4 waves)", "info"))
    spread = ", ".join(f"N={p['workers']}: {p['first_wave_spread_ms']:.1f} ms" for p in sweep)
    notes.append(
        "Fidelity falls off where fixed costs are no longer small against the ideal. "
        "gather: many short awaits each overshoot their sleep (the selector's millisecond "
        "timeout is rounded up, plus the wake-up latency of a loaded machine), so efficiency "
        "is about L / (L + awaits x overshoot); with thousands of tasks the loop's own work "
        "(creating, stepping and recording every task) adds up. Pool sweep: the theory "
        "(ceil(J/N) x L) counts no dispatch or thread start-up; ThreadPoolExecutor starts its "
        "threads lazily, one per submit, so the first wave is staggered "
        f"({spread}; on a quiet machine a few ms), a fixed cost that is small against 4 or "
        "more waves and large against 1 or 2 waves of 10 ms, and that grows when other "
        "programs compete for the CPUs. The goal applies from 4 waves.")
    return rows


def _static_panels(path: Path) -> list[str]:
    import json

    nb = json.loads(path.read_text())
    names = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            names += re.findall(r"^(\w+) = asynclab\.Panel\(", "".join(cell["source"]), re.M)
    return names


def section_notebooks(sz: Sizes, notes: list[str]) -> list[Row]:
    import notebooks

    paths = sorted(notebooks.NOTEBOOKS.glob("*.ipynb"))
    rows = []
    quick = sz is QUICK
    for path in paths:
        stem = path.stem
        if quick:
            rows.append(Row("notebooks", f"Run All: {stem}", "skipped (--quick)", "< 10 s", "skip"))
            rows += [Row("notebooks", f"panel re-run: {stem}.{name}", "skipped (--quick)",
                         "< 1 s", "skip") for name in _static_panels(path)]
            continue
        r = notebooks.run_notebook(path)
        if r["error"]:
            rows.append(Row("notebooks", f"Run All: {stem}",
                            f"failed after {r['run_all_s']:.1f} s: {r['error']}", "< 10 s", "miss"))
            rows += [Row("notebooks", f"panel re-run: {stem}.{name}",
                         "not run (the notebook failed)", "< 1 s", "skip")
                     for name in _static_panels(path)]
            continue
        rows.append(Row("notebooks", f"Run All: {stem}",
                        f"{r['run_all_s']:.1f} s (+{r['kernel_start_s']:.1f} s kernel start)",
                        "< 10 s", verdict(r["run_all_s"] < 10)))
        for name in sorted(set(r["panels"]) | set(_static_panels(path))):
            runs = r["panels"].get(name)
            if not runs:
                rows.append(Row("notebooks", f"panel re-run: {stem}.{name}",
                                "panel not found in the kernel", "< 1 s", "miss"))
                continue
            rows.append(Row("notebooks", f"panel re-run: {stem}.{name}",
                            f"{min(runs):.2f} s (median of {len(runs)}: "
                            f"{statistics.median(runs):.2f} s)", "< 1 s", verdict(min(runs) < 1)))
    if quick:
        rows.append(Row("notebooks", "nbval suite (all notebooks)", "skipped (--quick)",
                        "< 120 s", "skip"))
    else:
        r = notebooks.nbval_suite()
        ok = r["returncode"] == 0
        rows.append(Row("notebooks", "nbval suite (all notebooks)",
                        f"{r['seconds']:.0f} s ({r['summary']})", "< 120 s",
                        verdict(ok and r["seconds"] < 120)))
        notes.append("nbval: " + shlex.join(["python", *notebooks.NBVAL_CMD[1:]]))
    notes.append("Run All times exclude the kernel start-up (shown beside them); panel "
                 "re-runs are panel.run() at the defaults in the executed kernel, best of 3.")
    return rows


RUNNERS = {"recorder": section_recorder, "pool": section_pool, "drawing": section_drawing,
           "memory": section_memory, "fidelity": section_fidelity,
           "notebooks": section_notebooks}


# -- output ---------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    head = ["section", "measurement", "value", "goal", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.section, r.name, r.value, r.goal, r.result]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this section (repeatable)")
    parser.add_argument("--output", type=Path, default=None,
                        help="write the table here (default: bench/results.md for a full run)")
    args = parser.parse_args(argv)
    sections = args.only or list(SECTIONS)
    output = args.output
    if output is None and not args.quick and not args.only:
        output = HERE / "results.md"

    command = shlex.join([".venv/bin/python", "bench/run.py", *(argv if argv is not None
                                                                else sys.argv[1:])])
    load_before = os.getloadavg()
    print(f"Reproduce: {command}   (or: make bench)", flush=True)
    sz = QUICK if args.quick else FULL
    rows: list[Row] = []
    notes: list[str] = []
    t0 = time.perf_counter()
    for name in sections:
        ts = time.perf_counter()
        print(f"... {name}", file=sys.stderr, flush=True)
        try:
            rows += RUNNERS[name](sz, notes)
        except Exception as exc:  # one broken section must not lose the others' rows
            rows.append(Row(name, "section failed", f"{type(exc).__name__}: {exc}"[:200],
                            "-", "miss"))
        print(f"... {name} done in {time.perf_counter() - ts:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - t0
    load_after = os.getloadavg()
    text = table(rows)
    counts = {k: sum(r.result == k for r in rows) for k in ("pass", "miss", "info", "skip")}
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    print()
    print(text)
    print()
    print(f"{summary}; {elapsed:.0f} s; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after ({os.cpu_count()} CPUs)")
    cpus = os.cpu_count() or 1
    if max(load_before[0], load_after[0]) > cpus / 2:
        notes.insert(0, f"The machine was busy (load average up to "
                        f"{max(load_before[0], load_after[0]):.1f} on {cpus} CPUs): other "
                        "programs only slow runs down, so every time here is an upper bound, "
                        "and overheads measured as differences are inflated too.")
    for note in notes:
        print(f"- {note}")
    if output is not None:
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        fmt = "{:.2f} {:.2f} {:.2f}"
        md = [
            "# Benchmarks: the instruments' costs and fidelity",
            "",
            f"Reproduce: `{command}` (or `make bench`). Generated {when}, Python "
            f"{platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) "
            f"{fmt.format(*load_before)} before, {fmt.format(*load_after)} after; "
            f"{elapsed:.0f} s in all{' (--quick: tiny sizes, goals not meaningful)' if args.quick else ''}.",
            "",
            text,
            "",
            f"{summary}.",
            "",
            *(f"- {note}" for note in notes),
            "",
        ]
        output.write_text("\n".join(md))
        print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
