"""What is running now that was not when ``_reliability_baseline()`` was taken.

The harness sends this file, then prints the awaited result of
``_reliability_leaks(kernel_ports=[...], base=__reliability__)`` as a marked JSON line. It
is a coroutine so that, awaited at the top level of a cell, the kernel's loop keeps
running while it waits for exiting things to go.
"""

# Threads the kernel itself starts lazily (pyzmq frees zero-copy message buffers in one).
KERNEL_THREADS = {"zmq.utils.garbage.GarbageCollectorThread"}
# multiprocessing's resource tracker: one per process, started by the first process pool
# (by design; it ends with the kernel). Any other child process is a leak.
KERNEL_CHILD = "from multiprocessing.resource_tracker import main"
# Library singletons, one per process whatever the notebook does: dask.distributed's
# offload thread (distributed.utils._offload_executor, started on first use).
LIBRARY_THREADS = ("Dask-Offload",)


async def _reliability_leaks(kernel_ports, base, settle=5.0):
    """``{kind: [description, ...]}`` for threads, tasks, child processes, connections and
    the recorder's patch that are new since ``base``; ``{}`` if nothing is. Waits up to
    ``settle`` seconds for things that are already ending."""
    import asyncio
    import gc
    import sys
    import threading
    import time

    import psutil

    me = psutil.Process()
    loop = asyncio.get_running_loop()

    def running_this_cell(task):
        # The kernel runs each cell in fresh tasks (ipykernel 7): this cell's own task and
        # the kernel tasks awaiting it are not the notebook's.
        seen = set()
        while isinstance(task, asyncio.Future) and id(task) not in seen:
            if task is asyncio.current_task():
                return True
            seen.add(id(task))
            task = getattr(task, "_fut_waiter", None)
        return False

    def survey():
        gc.collect()  # garbage in reference cycles (a Response in a traceback) is not a leak
        found = {}
        threads = [f"{t.name} ({type(t).__module__}.{type(t).__qualname__}, "
                   f"target {getattr(t, '_target', None)!r})" for t in threading.enumerate()
                   if t.is_alive() and base["threads"].get(t.ident) != t.name
                   and f"{type(t).__module__}.{type(t).__qualname__}" not in KERNEL_THREADS
                   and not t.name.startswith(LIBRARY_THREADS)]
        if threads:
            found["threads"] = threads
        tasks = [repr(t) for t in asyncio.all_tasks(loop)
                 if t not in base["tasks"] and not t.done() and not running_this_cell(t)]
        if tasks:
            found["tasks"] = tasks
        children = []
        for p in me.children(recursive=True):
            if p.pid in base["children"]:
                continue
            try:
                if KERNEL_CHILD in " ".join(p.cmdline()):
                    continue
                children.append(f"pid {p.pid} {p.status()} {' '.join(p.cmdline())[:120]}")
            except psutil.Error:  # gone meanwhile
                pass
        if children:
            found["children"] = children
        conns = [f"{c.status} {c.laddr} -> {c.raddr or '-'}"
                 for c in me.net_connections("inet")
                 if (c.laddr, c.raddr, c.status) not in base["connections"]
                 and c.laddr.port not in kernel_ports
                 and not (c.raddr and c.raddr.port in kernel_ports)]
        if conns:
            found["connections"] = conns
        recorder = sys.modules.get("asynclab.recorder")
        if recorder is not None and recorder.is_patched():
            found["patched"] = ["asynclab.recorder.is_patched() is True"]
        return found

    # Not tools/waiting.wait_for: this runs in the kernel, and must await (not sleep) so
    # that the loop it shares with the notebook can finish cancelled tasks meanwhile.
    deadline = time.monotonic() + settle
    while (found := survey()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # let exiting threads end and cancelled tasks finish
    return found
