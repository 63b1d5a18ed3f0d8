"""Fidelity: how close the notebooks' experiments come to their ideal, at the defaults.

* ``gather``: notebook 01's panel (5 tasks, 100 ms latency, 3 awaits). Ideal: one latency.
* thread-pool sweep: notebook 06's (64 jobs of 10 ms blocking sleep, 1-64 workers).
  Ideal: ``ceil(J / N) * L`` (asynclab.sweep.ideal_makespan).

Each point is the best of a few runs (a loaded machine can only slow a run down).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import asynclab
from asynclab.sweep import ideal_makespan, sleep_job
from asynclab.workloads import best_of

ROOT = Path(__file__).resolve().parent.parent


def notebook06_defaults() -> tuple[int, float, list[int]]:
    """JOBS, JOB_S and SIZES as notebook 06 sets them (read from the notebook itself)."""
    nb = json.loads((ROOT / "notebooks" / "06_thread_and_process_pools.ipynb").read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        m = re.search(r"^JOBS, JOB_S = (\d[\d_]*), ([\d.]+)\nSIZES = (\[[\d, ]+\])", src, re.M)
        if m:
            return int(m[1]), float(m[2]), json.loads(m[3])
    raise LookupError("notebook 06 no longer sets JOBS, JOB_S and SIZES in one cell")


def gather_efficiency(tasks: int, latency_ms: float, awaits: int) -> float:
    """Notebook 01's ``gather_experiment`` without the plot: ideal / measured wall time."""
    async def worker():
        for _ in range(awaits):
            await asyncio.sleep(latency_ms / 1000 / awaits)

    async def main():
        with asynclab.record() as tl:
            await asyncio.gather(*(worker() for _ in range(tasks)))
        return tl

    tl = asynclab.run(main(), timeout=60)
    return tl.summary(ideal_s=latency_ms / 1000).efficiency


def gather_points(configs: list[tuple[int, int, int]], runs: int) -> list[dict]:
    out = []
    for tasks, latency_ms, awaits in configs:
        eff = best_of(lambda t=tasks, la=latency_ms, a=awaits: (gather_efficiency(t, la, a),),
                      runs=runs, max_runs=runs)[0]
        out.append({"tasks": tasks, "latency_ms": latency_ms, "awaits": awaits,
                    "efficiency": eff})
    return out


async def _run_jobs(pool, n_jobs: int, seconds: float):
    loop = asyncio.get_running_loop()
    with asynclab.record() as tl:
        await asyncio.gather(*(loop.run_in_executor(pool, sleep_job, seconds)
                               for _ in range(n_jobs)))
    return tl


def pool_sweep(jobs: int, job_s: float, sizes: list[int], runs: int) -> list[dict]:
    """Notebook 06's ``sleep_trial`` at each pool size: best efficiency of ``runs`` runs."""
    out = []
    for n in sizes:
        def once(n=n):
            with asynclab.traced_pool(n) as pool:
                tl = asynclab.run(_run_jobs(pool, jobs, job_s), timeout=60)
            return ideal_makespan(jobs, n, job_s) / (tl.wall_ms / 1e3), tl

        eff, tl = best_of(once, runs=runs, max_runs=runs)
        first_wave = sorted(j.started_ms for j in tl.jobs)[:n]
        out.append({"workers": n, "efficiency": eff, "threads": len(tl.threads),
                    "waves": -(-jobs // n), "first_wave_spread_ms": first_wave[-1] - first_wave[0],
                    "wall_ms": tl.wall_ms, "ideal_ms": ideal_makespan(jobs, n, job_s) * 1e3})
    return out
