"""asynclab: the instruments of the Async Agents Lab notebooks.

- ``run(coro)``: run a coroutine from a script, a notebook cell or a widget callback.
- ``record()``: record what runs on the event loop and in thread pools, as a ``Timeline``.
- ``traced_pool(n)``: a ``ThreadPoolExecutor`` whose jobs show on the timeline.
- ``toolserver.serve()``: a real local HTTP tool server with latency, failures, 429s.
- ``modelserver.serve()``: a local OpenAI-compatible model server, for ``openai.AsyncOpenAI``.
- ``mcp_tools.serve()``: the capstone's tools on a local MCP server.
  Neither is imported with the package (importing ``mcp`` takes seconds):
  ``from asynclab import modelserver, mcp_tools``.
- ``heartbeat()``: a loop-lag meter.
- ``xray(tl)``: step through a ``record(xray=True)`` timeline: the ready queue, the
  sleepers and the pools' queues at each step (why that task ran next).

Instruments used by one notebook each live in their own modules: ``workloads`` (CPU
jobs for process pools), ``races``, ``compare``, ``sweep``, ``pipeline``, ``agents_plot``,
``cluster``. The exercises' checks are ``check``; the class grader is ``grade``.

The lessons themselves (``gather``, ``Lock``, ``TaskGroup``...) stay in the notebooks.
"""

from . import toolserver
from .heartbeat import Heartbeat, heartbeat
from .recorder import TracedThreadPool, is_patched, record, traced_pool
from .runner import ExperimentTimeout, run
from .timeline import JobInfo, Summary, TaskInfo, Timeline

__all__ = [
    "ExperimentTimeout",
    "Heartbeat",
    "JobInfo",
    "Panel",
    "Summary",
    "TaskInfo",
    "Timeline",
    "TracedThreadPool",
    "heartbeat",
    "toolserver",
    "is_patched",
    "record",
    "run",
    "traced_pool",
    "xray",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Panel":  # ipywidgets is imported only by notebooks that use a panel
        from .widgets import Panel

        return Panel
    if name == "xray":  # the same: ipywidgets only when a notebook uses it
        from .xray_widget import xray

        return xray
    raise AttributeError(f"module 'asynclab' has no attribute {name!r}")
