"""Record a small multi-agent run and save its timeline as docs/timeline.png (README figure).

    python tools/make_readme_figure.py
"""

import asyncio
import time
from pathlib import Path

import asynclab

OUT = Path(__file__).resolve().parent.parent / "docs" / "timeline.png"


def legacy_tool(seconds: float) -> str:  # a synchronous library call
    time.sleep(seconds)
    return "rows"


async def agent(name: str) -> str:
    await asyncio.sleep(0.06)  # waiting for a model
    rows = await asyncio.to_thread(legacy_tool, 0.05)  # a sync tool, kept off the loop
    await asyncio.sleep(0.04)  # the model again
    return f"{name}: {rows}"


async def careless_agent() -> str:
    await asyncio.sleep(0.09)
    return legacy_tool(0.03)  # the same tool called directly: it blocks the whole loop


async def main() -> asynclab.Timeline:
    with asynclab.record() as tl:
        async with asyncio.TaskGroup() as tg:
            for name in ("planner", "researcher-1", "researcher-2"):
                tg.create_task(agent(name), name=name)
            tg.create_task(careless_agent(), name="careless")
    return tl


if __name__ == "__main__":
    tl = asynclab.run(main())
    fig = tl.plot(title="Four agents: waits overlap, sync tools run in threads, one blocking call stalls the loop")
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT.name}: {tl}")
