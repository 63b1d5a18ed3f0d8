"""Smoke test of ``bench/run.py --quick``: every row is there with its goal.

No timing is asserted here: the numbers at tiny sizes mean nothing; ``make bench`` measures.
"""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# (section, start of the measurement's name, goal)
EXPECTED = [
    ("recorder", "plain step", "-"),
    ("recorder", "record(): extra per step", "< 0.5 us"),
    ("recorder", "viztracer log_async=True: extra per step", "-"),
    ("recorder", "record() cheaper than viztracer by", ">= 5x"),
    ("recorder", "sys.monitoring recorder: extra per step", "-"),
    ("recorder", "step order, plain vs record()", "identical"),
    ("recorder", "record(xray=True): extra per step", "-"),
    ("recorder", "step order, plain vs record(xray=True)", "identical"),
    ("pool", "plain ThreadPoolExecutor", "-"),
    ("pool", "traced_pool in record(): extra per job", "< 3 us"),
    ("drawing", "tl.plot() + PNG, 1k spans", "-"),
    ("drawing", "tl.plot() + PNG, 10k spans", "-"),
    ("drawing", "tl.plot() + PNG, 100k spans", "< 0.2 s"),
    ("drawing", "tl.plot() + PNG, 1M spans", "-"),
    ("drawing", "broken_barh + PNG, 100k spans", "-"),
    ("memory", "peak bytes per recorded step", "<= 32 B"),
    ("fidelity", "gather: 5 tasks, 100 ms, 3 awaits (nb 01 defaults)", ">= 0.9"),
    ("fidelity", "pool sweep:", (">= 0.9", "- (< 4 waves)")),
    ("notebooks", "nbval suite", "< 120 s"),
    *[("notebooks", f"Run All: {p.stem}", "< 10 s") for p in NOTEBOOKS],
    *[("notebooks", f"panel re-run: {p.stem}.", "< 1 s") for p in NOTEBOOKS
      if "asynclab.Panel(" in p.read_text()],
]


def parse(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| section"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_quick_bench_prints_every_row_with_its_goal(tmp_path):
    out = tmp_path / "results.md"
    proc = subprocess.run([sys.executable, "bench/run.py", "--quick", "--output", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    assert first.startswith("Reproduce: .venv/bin/python bench/run.py --quick")
    rows = parse(proc.stdout)
    assert rows and all(len(r) == 5 for r in rows), rows
    assert {r[4] for r in rows} <= {"pass", "miss", "info", "skip"}
    for section, name, goal in EXPECTED:
        hits = [r for r in rows if r[0] == section and r[1].startswith(name)]
        assert hits, f"no row {section}: {name}"
        goals = goal if isinstance(goal, tuple) else (goal,)
        assert all(r[3] in goals for r in hits), (name, hits)
        assert any(r[3] == goals[0] for r in hits), (name, hits)
        assert all(r[2] for r in hits)
    # The sweep's goal applies from 4 waves of jobs.
    for r in rows:
        if r[1].startswith("pool sweep:"):
            waves = int(re.search(r"\((\d+) waves\)", r[1])[1])
            assert (r[3] == ">= 0.9") == (waves >= 4), r
    # The order check really ran and found the same interleaving.
    order = next(r for r in rows if r[1].startswith("step order"))
    assert order[4] == "pass" and re.match(r"identical over [\d,]+ steps", order[2])
    # The same table went to the file, with the load average noted.
    md = out.read_text()
    assert parse(md) == rows
    assert "load average" in md


def test_only_runs_one_section():
    proc = subprocess.run([sys.executable, "bench/run.py", "--quick", "--only", "memory"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = parse(proc.stdout)
    assert rows and {r[0] for r in rows} == {"memory"}
