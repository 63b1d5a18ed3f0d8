"""What the kernel holds before the notebook runs, for the leak check to compare against.

The harness sends this file, then ``__reliability__ = _reliability_baseline()``; it must be
called with the kernel's event loop running (as in a notebook cell).
"""


def _reliability_baseline():
    import asyncio
    import threading

    import psutil

    me = psutil.Process()
    return {
        "threads": {t.ident: t.name for t in threading.enumerate()},
        "tasks": set(asyncio.all_tasks(asyncio.get_running_loop())),
        "children": {p.pid for p in me.children(recursive=True)},
        "connections": {(c.laddr, c.raddr, c.status) for c in me.net_connections("inet")},
    }
